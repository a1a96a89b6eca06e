"""The AND part of the report: neuron cards (top activating clips with players, description, calibrated summary,
concepts), the last-layer accuracy, the pruning result with its random control and the uninterpretable share.

Reads what :mod:`interpretability.dissection.pipeline` writes: ``neurons_<layer>.json``, ``test_metrics.json``,
``probing.json``, ``uninterpretable.json`` / ``.png``; clip ids are resolved to wav files through the run's
manifests (``save/*.json``) and copied beside the report.
"""

import glob
import logging
import os
from dataclasses import dataclass

from interpretability.report.collect import read_json
from interpretability.report.files import copy as _copy
from interpretability.report.listening import safe_name

logger = logging.getLogger(__name__)


@dataclass
class NeuronOptions:
    """Which neurons get a card: every output neuron (up to ``output_neurons``) and the ``hidden_neurons`` of the
    last hidden layer with the highest top description-based (DB) concept score; ``top_clips`` players each."""

    output_neurons: int = 12
    hidden_neurons: int = 6
    top_clips: int = 3


def clip_paths(manifests):
    """``{clip id: wav path}`` from manifest files (later files do not override earlier ones)."""
    paths = {}
    for manifest in manifests:
        data = read_json(manifest)
        if isinstance(data, dict):
            for clip_id, entry in data.items():
                if isinstance(entry, dict) and "wav" in entry:
                    paths.setdefault(clip_id, entry["wav"])
    return paths


def _layers(folder):
    """Dissected layers in the run's order, ``{layer: neurons file}``."""
    files = {
        os.path.basename(p)[len("neurons_") : -len(".json")]: p
        for p in glob.glob(os.path.join(folder, "neurons_*.json"))
    }
    probing = os.path.join(folder, "probing.json")
    order = []
    if os.path.isfile(probing):
        order = [
            layer
            for layer in (read_json(probing).get("layers") or [])
            if layer in files
        ]
    order += sorted(layer for layer in files if layer not in order)
    return {layer: files[layer] for layer in order}


def _db_score(neuron):
    db = (neuron.get("closed_concepts") or {}).get("DB") or []
    return (
        db[0]["score"]
        if db and isinstance(db[0], dict) and "score" in db[0]
        else float("-inf")
    )


def neuron_cards(and_folder, out_dir, manifests=(), options=None):
    """The neuron cards of an AND output folder, their clips copied to ``out_dir/audio/clips/``.

    Returns ``{"output_layer": name, "hidden_layer": name, "cards": [card], "missing_clips": [id]}``; a card holds
    ``layer``, ``id``, ``true_class``, ``calibrated_summary``, ``highly_summary``, ``closed`` (``{method: text}``),
    ``open`` (list), ``uninterpretable`` and ``clips`` (``[{id, audio, activation, description}]``).
    """
    options = options or NeuronOptions()
    own = sorted(glob.glob(os.path.join(and_folder, "save", "*.json")))
    paths = clip_paths(
        [
            m
            for m in own
            if os.path.basename(m) not in ("classes.json", "prepare_opts.json")
        ]
        + list(manifests)
    )
    layers = {
        layer: read_json(path) for layer, path in _layers(and_folder).items()
    }
    output_layer = next(
        (
            layer
            for layer, data in layers.items()
            if any("true_class" in n for n in data.get("neurons", []))
        ),
        None,
    )
    hidden = [layer for layer in layers if layer != output_layer]
    hidden_layer = hidden[-1] if hidden else None
    chosen = []
    if output_layer:
        chosen += [
            (output_layer, n)
            for n in layers[output_layer].get("neurons", [])[
                : options.output_neurons
            ]
        ]
    if hidden_layer:
        ranked = sorted(
            layers[hidden_layer].get("neurons", []),
            key=lambda n: (-_db_score(n), n.get("id", 0)),
        )
        chosen += [(hidden_layer, n) for n in ranked[: options.hidden_neurons]]
    cards, missing = [], []
    for layer, neuron in chosen:
        clips = []
        for clip in neuron.get("top_clips", [])[: options.top_clips]:
            source = paths.get(clip.get("id"))
            audio = None
            if source and os.path.isfile(source):
                audio = _copy(
                    source,
                    os.path.join(
                        out_dir,
                        "audio",
                        "clips",
                        safe_name(clip["id"]) + ".wav",
                    ),
                )
            else:
                missing.append(clip.get("id"))
            clips.append(
                {
                    "id": clip.get("id"),
                    "audio": audio,
                    "activation": clip.get("activation"),
                    "description": clip.get("description", ""),
                }
            )
        closed = {}
        for method, value in (neuron.get("closed_concepts") or {}).items():
            if isinstance(value, list):
                closed[method] = ", ".join(
                    f"{v.get('concept')} ({v.get('score', float('nan')):.3f})"
                    for v in value[:3]
                    if isinstance(v, dict)
                )
            else:
                closed[method] = str(value)
        flags = neuron.get("uninterpretable") or {}
        cards.append(
            {
                "layer": layer,
                "id": neuron.get("id"),
                "true_class": neuron.get("true_class"),
                "calibrated_summary": neuron.get("calibrated_summary"),
                "highly_summary": neuron.get("highly_summary"),
                "closed": closed,
                "open": list((neuron.get("open_concepts") or {}).keys()),
                "uninterpretable": next(iter(flags.items()), None),
                "clips": clips,
            }
        )
    if missing:
        logger.warning(
            "report: %d AND clips have no wav file (ids not in the manifests): %s",
            len(missing),
            ", ".join(sorted(set(map(str, missing)))[:5]),
        )
    return {
        "output_layer": output_layer,
        "hidden_layer": hidden_layer,
        "cards": cards,
        "missing_clips": sorted(set(map(str, missing))),
    }


def uninterpretable_picture(and_folder, out_dir):
    """Copy ``uninterpretable.png`` beside the report; returns its new path or None."""
    source = os.path.join(and_folder, "uninterpretable.png")
    if not os.path.isfile(source):
        return None
    return _copy(
        source, os.path.join(out_dir, "img", "and_uninterpretable.png")
    )
