"""What every stage of the AND pipeline shares: JSON helpers, per-item partial records, the stage plumbing."""

import contextlib
import json
import logging
import math
import os

import torch

from interpretability.dissection.activations import (
    _first_tensor,
    resolve_layers,
)
from interpretability.dissection.pruning import ablate, resume_point
from interpretability.dissection.summarizers import normalize_phrase
from interpretability.spectral import magnitude_phase

logger = logging.getLogger(__name__)


def _distributed():
    """``(rank, world_size)``; ``(0, 1)`` outside torchrun."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _barrier():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def _plain(value):
    """JSON-safe: NaN / inf to None, tensors to lists."""
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _read_json(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _mean(values):
    values = [v for v in values if v is not None and math.isfinite(v)]
    return sum(values) / len(values) if values else float("nan")


def _diff(a, b):
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
        return float("nan")
    return a - b


class PartialRecords:
    """Per-item results of a stage appended as JSON lines to ``path``, so a killed stage resumes.

    On open the valid lines are read (``key`` fields identify an item) and a line cut short by a kill is dropped
    from the file; :meth:`append` writes one record and flushes it.
    """

    def __init__(self, path, key):
        self.path, self.key = path, tuple(key)
        self.records = {}
        valid = []
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if isinstance(record, dict) and all(
                        k in record for k in self.key
                    ):
                        self.records[self.key_of(record)] = record
                        valid.append(
                            line if line.endswith("\n") else line + "\n"
                        )
            with open(
                path, "w", encoding="utf-8"
            ) as handle:  # drop a truncated tail before appending
                handle.writelines(valid)
            logger.info(
                "%s: resuming after %d finished items", path, len(self.records)
            )
        self._handle = None

    def key_of(self, record):
        return tuple(record[k] for k in self.key)

    def __contains__(self, key):
        return tuple(key) in self.records

    def append(self, record):
        if self._handle is None:
            self._handle = open(self.path, "a", encoding="utf-8")
        self._handle.write(json.dumps(_plain(record)) + "\n")
        self._handle.flush()
        self.records[self.key_of(record)] = record

    def close(self, remove=False):
        if self._handle is not None:
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None
        if remove and os.path.exists(self.path):
            os.remove(self.path)


def layer_file_name(layer):
    """``neurons_<layer>.json`` for a dotted layer path."""
    return f"neurons_{layer}.json"


class StageBase:
    """Plumbing of :class:`~interpretability.dissection.pipeline.Dissection` the stage mixins use: stage files,
    the magnitude cache, batches and logits of probing clips, per-neuron work lists."""

    def path(self, name):
        return os.path.join(self.folder, name)

    def _done(self, name):
        if os.path.isfile(self.path(name)):
            logger.info("stage file %s is there: stage skipped", name)
            return True
        return False

    def clip_set(self, which):
        """The probing clips (``"probing"``) or the held-out clips (``"heldout"``, None when there are none)."""
        return self.probing if which == "probing" else self.heldout

    def _magnitude(self, index, which="probing"):
        """Magnitude spectrogram ``[T, F]`` of a probing / held-out clip (kept in memory up to ``cache_bytes``)."""
        key = (which, index)
        if key in self._magnitudes:
            return self._magnitudes[key]
        magnitude = magnitude_phase(self.clip_set(which).wav(index))[0]
        if self._magnitude_bytes + magnitude.numel() * 4 <= self.cache_bytes:
            self._magnitudes[key] = magnitude
            self._magnitude_bytes += magnitude.numel() * 4
        return magnitude

    def _batches(self, indices, which="probing"):
        """``(ids, magnitude [B, T, F])`` over the probing (or held-out) clips at ``indices``."""
        indices, clips = list(indices), self.clip_set(which)
        for start in range(0, len(indices), self.options.batch_size):
            chunk = indices[start : start + self.options.batch_size]
            yield (
                [clips.ids[i] for i in chunk],
                torch.stack([self._magnitude(i, which) for i in chunk]),
            )

    def _logits(self, indices, ablation=None, which="probing"):
        """Logits ``[len(indices), C]`` of probing (or held-out) clips, with the neurons of ``ablation``
        (``{layer: ids}``) zeroed. A model that can resume its forward after a layer (``resume_point``) starts from
        the intact activations before the earliest ablated layer, computed once per clip set: every pruning run
        and random control then costs only the layers from there on."""
        point = resume_point(self.model, ablation)
        if point is not None:
            before = self._intact_activations(point, which)
            if before is not None:
                rows = []
                with torch.no_grad(), ablate(
                    self.model, ablation, self.options.neuron_axes
                ):
                    indices = list(indices)
                    for start in range(
                        0, len(indices), self.options.batch_size
                    ):
                        chunk = indices[start : start + self.options.batch_size]
                        rows.append(
                            self.model.forward_after(point, before[chunk])
                            .float()
                            .cpu()
                        )
                return torch.cat(rows)
        rows = []
        context = (
            ablate(self.model, ablation, self.options.neuron_axes)
            if ablation
            else contextlib.nullcontext()
        )
        with torch.no_grad(), context:
            for _, magnitude in self._batches(indices, which):
                if self.device is not None:
                    magnitude = magnitude.to(self.device)
                rows.append(self.model(magnitude).float().cpu())
        return torch.cat(rows)

    def _intact_activations(self, point, which="probing"):
        """The output of the module ``point`` on the intact forward of every clip of a set, ``[N, ...]`` on the
        model's device, kept for the stage (None when it would take more than ``cache_bytes``)."""
        cache = self._resume_cache
        if (point, which) not in cache:
            clips, outputs = self.clip_set(which), []
            module = resolve_layers(self.model, [point])[point]

            def keep(_module, _inputs, output):
                outputs.append(_first_tensor(output).detach())

            handle = module.register_forward_hook(keep)
            try:
                with torch.no_grad():
                    for _, magnitude in self._batches(range(len(clips)), which):
                        if self.device is not None:
                            magnitude = magnitude.to(self.device)
                        self.model(magnitude)
            finally:
                handle.remove()
            stacked = torch.cat(outputs)
            too_big = (
                stacked.numel() * stacked.element_size() > self.cache_bytes
            )
            cache[(point, which)] = None if too_big else stacked
        return cache[(point, which)]

    def _work(self, per_layer_neurons):
        return [
            (layer, n)
            for layer, neurons in per_layer_neurons.items()
            for n in neurons
        ]

    def _summarised_neurons(self, widths):
        """``{layer: neuron ids}`` that Modules B / C and ICL describe."""
        limit = self.options.neurons_per_layer
        return {
            layer: list(
                range(
                    width
                    if limit is None or layer == self.options.output_layer
                    else min(width, int(limit))
                )
            )
            for layer, width in widths.items()
        }

    @staticmethod
    def _by_layer(records, widths):
        layers = {layer: {} for layer in widths}
        for (layer, neuron), record in sorted(
            records.items(),
            key=lambda kv: (
                list(widths).index(kv[0][0]) if kv[0][0] in widths else 0,
                kv[0][1],
            ),
        ):
            layers.setdefault(layer, {})[str(neuron)] = {
                k: v for k, v in record.items() if k not in ("layer", "neuron")
            }
        return layers

    @staticmethod
    def _int_keys(layers):
        return {
            layer: {int(n): v for n, v in neurons.items()}
            for layer, neurons in layers.items()
        }

    def true_classes(self, width):
        """Known class of each output neuron: its class name when it is in the concept set, else None."""
        concepts = {normalize_phrase(c) for c in self.concepts}
        names = self.output_classes[:width] + [None] * max(
            0, width - len(self.output_classes)
        )
        return [
            name
            if name is not None and normalize_phrase(name) in concepts
            else None
            for name in names
        ]

    def taus(self):
        taus = (
            self.options.tau
            if isinstance(self.options.tau, (list, tuple))
            else [self.options.tau]
        )
        return [float(t) for t in taus]

    def barrier(self):
        """Wait for every rank under torchrun (no-op in one process)."""
        _barrier()
