"""Concept-specific pruning: pick the neurons of a concept, ablate them by neuron id, measure the confidence change.

Neurons are matched to a target concept by lemma equality of whole phrases or by text-embedding similarity,
never by substring ("use" does not match "mouse"). Ablation zeroes the chosen channels / units of the named
layers through forward hooks, addressed by neuron id, and restores the model on exit.
"""

import logging
import re
from collections.abc import Mapping
from contextlib import contextmanager

import torch
from tqdm import tqdm

from interpretability.dissection.activations import (
    _first_tensor,
    _hooks,
    _to_device,
    neuron_axis,
    resolve_layers,
)
from interpretability.errors import InputError

logger = logging.getLogger(__name__)

STRATEGIES = ("db", "tab", "open", "label")


def simple_lemma(word):
    """A light English lemmatiser for matching concept words: lower case, regular plurals to singular."""
    w = word.lower()
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 4 and w.endswith(("sses", "shes", "ches", "xes", "zes")):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


def phrase_lemmas(text, lemmatizer=simple_lemma):
    """Lemmas of a phrase's words (``_`` and ``-`` separate words): ``"Water_drops"`` -> ``("water", "drop")``."""
    return tuple(lemmatizer(w) for w in re.findall(r"[a-z0-9']+", text.lower()))


def concepts_match(
    concept, target, text_encoder=None, threshold=0.8, lemmatizer=simple_lemma
):
    """Whether ``concept`` names ``target``: equal lemma phrases, or cosine >= ``threshold`` with ``text_encoder``."""
    if phrase_lemmas(concept, lemmatizer) == phrase_lemmas(target, lemmatizer):
        return True
    if text_encoder is None:
        return False
    embeddings = text_encoder.encode(
        [concept.replace("_", " "), target.replace("_", " ")]
    )
    return float(embeddings[0] @ embeddings[1]) >= threshold


def select_neurons(
    neuron_concepts,
    target,
    strategy="open",
    text_encoder=None,
    threshold=0.8,
    top_n=1,
    lemmatizer=simple_lemma,
):
    """Neurons whose concepts match ``target``.

    Arguments
    ---------
    neuron_concepts : dict
        ``{layer: {neuron_id: concepts}}``; for ``db`` / ``tab`` / ``label`` the ranked closed concepts (the first
        ``top_n`` count), for ``open`` the open concepts (a list or a ``{concept: count}`` mapping; all count, and a
        multi-word target also matches when each of its words is the lemma of one of them).
    target : str
    strategy : "db" | "tab" | "open" | "label"
    text_encoder : TextEncoder or None
        Enables embedding matching (cosine >= ``threshold``); without it only equal lemma phrases match.

    Returns
    -------
    dict ``{layer: sorted neuron ids}`` (layers with no match are left out).
    """
    if strategy not in STRATEGIES:
        raise ValueError(
            f"strategy must be one of {STRATEGIES}, got {strategy!r}"
        )
    candidates = {}
    for layer, neurons in neuron_concepts.items():
        for neuron_id, concepts in neurons.items():
            if isinstance(concepts, str):
                concepts = [concepts]
            concepts = list(
                concepts.keys() if isinstance(concepts, Mapping) else concepts
            )
            if strategy != "open":
                concepts = concepts[:top_n]
            candidates[(layer, int(neuron_id))] = concepts
    unique = sorted({c for cs in candidates.values() for c in cs})
    target_lemmas = phrase_lemmas(target, lemmatizer)
    matching = {
        c for c in unique if phrase_lemmas(c, lemmatizer) == target_lemmas
    }
    if text_encoder is not None and unique:
        similarity = (
            text_encoder.encode([c.replace("_", " ") for c in unique])
            @ text_encoder.encode([target.replace("_", " ")])[0]
        )
        matching |= {
            c for c, s in zip(unique, similarity.tolist()) if s >= threshold
        }
    selected = {}
    target_words = set(target_lemmas)
    for (layer, neuron_id), concepts in candidates.items():
        named = any(c in matching for c in concepts)
        if not named and strategy == "open" and len(target_words) > 1:
            # open concepts are single words: together they name a multi-word target when each of its words is
            # the lemma of one of them ({"rising", "chirp"} names "rising chirp"; whole words, never substrings)
            named = target_words <= {
                w for c in concepts for w in phrase_lemmas(c, lemmatizer)
            }
        if named:
            selected.setdefault(layer, []).append(neuron_id)
    return {layer: sorted(ids) for layer, ids in selected.items()}


def random_control(selected, widths, seed=0, exclude_selected=False):
    """Random neurons, as many per layer as in ``selected``, drawn with a seeded generator.

    ``widths`` ``{layer: number of neurons}``; ``exclude_selected`` draws only among the unselected neurons.
    """
    generator = torch.Generator().manual_seed(int(seed))
    control = {}
    for layer in sorted(selected):
        ids = set(int(i) for i in selected[layer])
        pool = torch.tensor(
            [
                i
                for i in range(widths[layer])
                if not (exclude_selected and i in ids)
            ]
        )
        if len(ids) > len(pool):
            raise ValueError(
                f"layer {layer!r}: cannot draw {len(ids)} of {len(pool)} neurons"
            )
        control[layer] = sorted(
            pool[
                torch.randperm(len(pool), generator=generator)[: len(ids)]
            ].tolist()
        )
    return control


def resume_point(model, ablation):
    """The module whose intact output an ablated forward of ``model`` can start from (the model's
    ``resume_point`` of the ablated layers), or None: no ablation, or a model that cannot resume."""
    layers = [layer for layer, ids in (ablation or {}).items() if len(ids)]
    if not layers or not hasattr(model, "resume_point"):
        return None
    return model.resume_point(layers)


@contextmanager
def ablate(model, neurons, neuron_axes=None):
    """Zero the listed neurons (``{layer: [neuron ids]}``) of named layers while the context is open.

    A neuron id addresses a channel (axis 1 of a conv output) or a unit (last axis), as in
    :func:`~.activations.capture_activations` (same ``neuron_axes`` overrides). Hooks are removed on exit.
    """
    neurons = {
        layer: sorted({int(i) for i in ids})
        for layer, ids in neurons.items()
        if len(ids)
    }
    modules = resolve_layers(model, list(neurons)) if neurons else {}
    neuron_axes = dict(neuron_axes or {})

    def hook_factory(name, module):
        ids = torch.tensor(neurons[name], dtype=torch.long)

        def hook(_module, _inputs, output):
            tensor = _first_tensor(output)
            axis = neuron_axis(module, tensor, neuron_axes.get(name))
            if int(ids.max()) >= tensor.shape[axis] or int(ids.min()) < 0:
                raise InputError(
                    f"layer {name!r} has {tensor.shape[axis]} neurons; cannot ablate ids "
                    f"{[i for i in neurons[name] if not 0 <= i < tensor.shape[axis]][:10]}"
                )
            masked = tensor.index_fill(axis, ids.to(tensor.device), 0)
            if isinstance(output, torch.Tensor):
                return masked
            if hasattr(output, "to_tuple"):
                output[next(iter(output.keys()))] = masked
                return output
            return type(output)([masked, *output[1:]])

        return hook

    with _hooks(modules, hook_factory):
        yield


def pruning_effect(
    model,
    forward_fn,
    batches,
    labels,
    target_class,
    ablation,
    multilabel=False,
    neuron_axes=None,
    device=None,
    progress=True,
):
    """Mean confidence change from ablating ``ablation`` (``{layer: ids}``) on target-class clips and the others.

    Arguments
    ---------
    forward_fn : callable or None
        ``forward_fn(model, inputs)`` -> logits ``[B, C]``; None calls ``model(inputs)``.
    batches : iterable of ``(ids, inputs)``
    labels : mapping id -> class index, or a sequence of class indices in batch order
    target_class : int

    Returns
    -------
    dict with ``delta_A`` / ``delta_R`` (change of the probability of each clip's own class, ablated minus
    intact, averaged over target-class clips / the other clips), ``delta_A_logit`` / ``delta_R_logit`` (same for
    logits), ``n_A``, ``n_R`` and ``n_neurons``. Means over an empty group are NaN.
    """
    forward_fn = forward_fn or (lambda m, x: m(x))
    label_iter = None if isinstance(labels, Mapping) else iter(labels)
    deltas_prob, deltas_logit, in_target = [], [], []
    with torch.no_grad():
        for ids, inputs in tqdm(batches, desc="pruning", disable=not progress):
            ids = list(ids)
            if label_iter is None:
                y = [int(labels[i]) for i in ids]
            else:
                y = [int(next(label_iter)) for _ in ids]
            y = torch.tensor(y)
            inputs = _to_device(inputs, device)
            intact = forward_fn(model, inputs).float().cpu()
            with ablate(model, ablation, neuron_axes):
                ablated = forward_fn(model, inputs).float().cpu()
            rows = torch.arange(len(ids))
            prob = (
                torch.sigmoid
                if multilabel
                else (lambda z: torch.softmax(z, dim=-1))
            )
            deltas_prob.append(prob(ablated)[rows, y] - prob(intact)[rows, y])
            deltas_logit.append(ablated[rows, y] - intact[rows, y])
            in_target.append(y == int(target_class))
    if not in_target:
        raise InputError("no batches to measure the pruning effect on")
    prob_d, logit_d, mask = (
        torch.cat(deltas_prob),
        torch.cat(deltas_logit),
        torch.cat(in_target),
    )

    def mean(values):
        return float(values.mean()) if values.numel() else float("nan")

    return {
        "delta_A": mean(prob_d[mask]),
        "delta_R": mean(prob_d[~mask]),
        "delta_A_logit": mean(logit_d[mask]),
        "delta_R_logit": mean(logit_d[~mask]),
        "n_A": int(mask.sum()),
        "n_R": int((~mask).sum()),
        "n_neurons": sum(len(set(ids)) for ids in ablation.values()),
    }
