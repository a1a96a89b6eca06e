"""Neuron activations of named layers over a probing set (AND step 1).

A neuron is a channel of a convolutional output ``[B, C, ...]`` or a unit of a linear / transformer output
``[B, ..., units]``; each clip gives one value per neuron by pooling over the other axes (``mean``, ``max``,
or ``cls``: token 0 of a transformer output ``[B, tokens, dim]``). The same pooling is used for every layer.
Layers are resolved by dotted module path (``model.get_submodule``), never by evaluating strings.
"""

import difflib
import logging
import os
from collections import Counter
from contextlib import contextmanager

import torch
import torch.nn as nn
from tqdm import tqdm

from interpretability.errors import InputError
from interpretability.results import atomic_torch_save

logger = logging.getLogger(__name__)

POOLINGS = ("mean", "max", "cls")
# Modules whose outputs put neurons on axis 1 (channels first).
_CHANNEL_FIRST = (
    nn.modules.conv._ConvNd,
    nn.modules.batchnorm._BatchNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.GroupNorm,
    nn.modules.pooling._MaxPoolNd,
    nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd,
    nn.modules.pooling._AdaptiveMaxPoolNd,
    nn.Dropout2d,
    nn.Dropout3d,
)
_LAST_AXIS = (nn.Linear, nn.LayerNorm, nn.Embedding, nn.MultiheadAttention)


class Activations(dict):
    """``{layer: Tensor[N_clips, N_neurons]}`` with the clip ``ids`` (row order) and the ``pooling`` used."""

    def __init__(self, layers=None, ids=None, pooling=None):
        super().__init__(layers or {})
        self.ids = list(ids or [])
        self.pooling = pooling

    def widths(self):
        """``{layer: number of neurons}``."""
        return {name: int(t.shape[1]) for name, t in self.items()}


def resolve_layers(model, layer_names):
    """``{name: module}`` for dotted paths; raises InputError listing close and valid names for a bad path."""
    if isinstance(layer_names, str):
        layer_names = [layer_names]
    if not layer_names:
        raise InputError("no layer names given")
    modules = {}
    for name in layer_names:
        try:
            modules[name] = model.get_submodule(name)
        except AttributeError:
            valid = [n for n, _ in model.named_modules() if n]
            close = difflib.get_close_matches(name, valid, n=5)
            shown = ", ".join(valid[:60]) + (
                f", ... ({len(valid)} in all)" if len(valid) > 60 else ""
            )
            hint = f"; did you mean {', '.join(close)}?" if close else "."
            raise InputError(
                f"layer {name!r} is not a module of {type(model).__name__}{hint} "
                f"Valid names: {shown}"
            ) from None
    return modules


def _first_tensor(output):
    """The tensor a hook sees: the output itself, or the first element of a tuple / ModelOutput."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) or hasattr(output, "to_tuple"):
        first = output[0]
        if isinstance(first, torch.Tensor):
            return first
    raise TypeError(
        f"cannot read neurons from a module output of type {type(output).__name__}"
    )


def neuron_axis(module, output, override=None):
    """Axis of ``output`` holding the neurons: 1 (channels) or ``ndim - 1`` (units).

    ``override`` ("channel" or "last") wins; otherwise convolution-family modules and any other 4-D/5-D output
    are channels-first, and linear / norm / transformer outputs put units last.
    """
    if output.ndim < 2:
        raise ValueError(
            f"output of shape {tuple(output.shape)} has no batch and neuron axes"
        )
    if override is not None:
        if override not in ("channel", "last"):
            raise ValueError(
                f"neuron axis must be 'channel' or 'last', got {override!r}"
            )
        return 1 if override == "channel" else output.ndim - 1
    if output.ndim == 2 or isinstance(module, _LAST_AXIS):
        return output.ndim - 1
    if isinstance(module, _CHANNEL_FIRST) or output.ndim >= 4:
        return 1
    return output.ndim - 1


def pool_neurons(output, axis, pooling):
    """``output`` with neurons on ``axis`` -> ``[B, N_neurons]`` pooled over every other non-batch axis."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    x = output.movedim(axis, -1)
    if x.ndim == 2:
        return x
    if pooling == "cls":
        if axis != output.ndim - 1 or output.ndim != 3:
            raise ValueError(
                f"'cls' pooling needs a transformer output [B, tokens, dim]; got shape "
                f"{tuple(output.shape)} with neurons on axis {axis}"
            )
        return x[:, 0]
    x = x.reshape(x.shape[0], -1, x.shape[-1])
    return x.mean(dim=1) if pooling == "mean" else x.amax(dim=1)


@contextmanager
def _hooks(modules, hook_factory):
    handles = []
    try:
        for name, module in modules.items():
            handles.append(
                module.register_forward_hook(hook_factory(name, module))
            )
        yield
    finally:
        for handle in handles:
            handle.remove()


def _to_device(inputs, device):
    if device is None:
        return inputs
    if isinstance(inputs, torch.Tensor):
        return inputs.to(device)
    if isinstance(inputs, dict):
        return {k: _to_device(v, device) for k, v in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        return type(inputs)(_to_device(v, device) for v in inputs)
    return inputs


def capture_activations(
    model,
    layer_names,
    batches,
    pooling="mean",
    forward_fn=None,
    neuron_axes=None,
    device=None,
    progress=True,
):
    """Pooled activations of named layers over all batches.

    Arguments
    ---------
    model : nn.Module
        Put in eval mode by the caller (this function does not change the mode).
    layer_names : list[str]
        Dotted module paths (``encoder.block3.conv2``).
    batches : iterable of ``(ids, inputs)``
        ``ids`` a list of clip ids, ``inputs`` whatever ``forward_fn`` takes.
    pooling : "mean" | "max" | "cls"
    forward_fn : callable or None
        ``forward_fn(model, inputs)``; None calls ``model(inputs)``.
    neuron_axes : dict or None
        ``{layer: "channel" | "last"}`` to override where neurons are found (see :func:`neuron_axis`).
    device : optional
        Tensors in ``inputs`` are moved there.

    Returns
    -------
    Activations
        ``{layer: Tensor[N_clips, N_neurons]}`` (float32, CPU) with ``.ids`` and ``.pooling``.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    modules = resolve_layers(model, layer_names)
    forward_fn = forward_fn or (lambda m, x: m(x))
    neuron_axes = dict(neuron_axes or {})
    unknown = set(neuron_axes) - set(modules)
    if unknown:
        raise InputError(
            f"neuron_axes names layers that are not captured: {sorted(unknown)}"
        )
    collected = {name: [] for name in modules}
    current = {}
    described = set()

    def hook_factory(name, module):
        def hook(_module, _inputs, output):
            tensor = _first_tensor(output)
            axis = neuron_axis(module, tensor, neuron_axes.get(name))
            if name not in described:
                described.add(name)
                logger.info(
                    "layer %s: output %s, neurons on axis %d (%d neurons), %s pooling",
                    name,
                    tuple(tensor.shape),
                    axis,
                    tensor.shape[axis],
                    pooling,
                )
            current.setdefault(name, []).append(
                pool_neurons(tensor.detach(), axis, pooling).float().cpu()
            )

        return hook

    ids = []
    with _hooks(modules, hook_factory), torch.no_grad():
        for batch_ids, inputs in tqdm(
            batches, desc="activations", disable=not progress
        ):
            batch_ids = list(batch_ids)
            current.clear()
            forward_fn(model, _to_device(inputs, device))
            for name in modules:
                outputs = current.get(name, [])
                if len(outputs) != 1:
                    raise RuntimeError(
                        f"layer {name!r} ran {len(outputs)} times in one forward pass; "
                        "hook a module that runs exactly once"
                    )
                if outputs[0].shape[0] != len(batch_ids):
                    raise RuntimeError(
                        f"layer {name!r} gave {outputs[0].shape[0]} rows for a batch of "
                        f"{len(batch_ids)} ids"
                    )
                collected[name].append(outputs[0])
            ids.extend(batch_ids)
    if not ids:
        raise InputError("no batches to capture activations from")
    return Activations(
        {name: torch.cat(parts) for name, parts in collected.items()},
        ids=ids,
        pooling=pooling,
    )


def save_activations(path, activations):
    """Write :class:`Activations` to ``path`` atomically (``torch.save`` of plain tensors, lists and strings)."""
    atomic_torch_save(
        path,
        {
            "ids": list(activations.ids),
            "pooling": activations.pooling,
            "layers": {name: t.contiguous() for name, t in activations.items()},
        },
    )


def load_activations(path):
    """Read a file written by :func:`save_activations`."""
    if not os.path.isfile(path):
        raise InputError(f"{path}: activation file not found")
    data = torch.load(path, map_location="cpu", weights_only=True)
    return Activations(data["layers"], ids=data["ids"], pooling=data["pooling"])


def shard_indices(n, rank, world_size):
    """Contiguous block of ``range(n)`` for ``rank`` of ``world_size`` (sizes differ by at most one).

    Concatenating the blocks of ranks 0, 1, ... gives ``range(n)`` back in order.
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in a world of size {world_size}")
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (1 if rank < extra else 0))


def shard_path(folder, rank, stem="activations"):
    """Per-rank file name, ``<folder>/<stem>.rank<rank>.pt``."""
    return os.path.join(folder, f"{stem}.rank{rank}.pt")


def merge_activation_shards(paths):
    """Concatenate per-rank activation files in the order given (rank 0 first) into one :class:`Activations`.

    The shards must hold the same layers, widths and pooling, and no clip id twice.
    """
    shards = [load_activations(p) for p in paths]
    if not shards:
        raise InputError("no activation shards to merge")
    first = shards[0]
    for path, shard in zip(paths[1:], shards[1:]):
        if (
            set(shard) != set(first)
            or shard.pooling != first.pooling
            or shard.widths() != first.widths()
        ):
            raise InputError(
                f"{path}: layers / widths / pooling differ from {paths[0]}"
            )
    ids = [i for shard in shards for i in shard.ids]
    duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
    if duplicates:
        raise InputError(
            f"clip ids present in more than one shard: {duplicates[:10]}"
        )
    return Activations(
        {name: torch.cat([s[name] for s in shards]) for name in first},
        ids=ids,
        pooling=first.pooling,
    )
