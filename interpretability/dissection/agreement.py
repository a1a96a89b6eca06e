"""How far a captioner's words point to the right label, measured on clips that are not probing clips.

DB matches a neuron's top-K descriptions to the concepts by text similarity, so on one clip the same matching
tells whether a description leads to the clip's own label: :func:`captioner_agreement` is the share of clips for
which it does. Last-layer DB is roughly (share of a neuron's top clips from its class) x (this agreement), so
the agreement says how much of DB is the captioner and how much the neurons.

Command line (any dataset a recipe prepares; no model involved)::

    python -m interpretability.dissection.agreement --data_folder DIR --layout esc50 --splits valid \
        [--max_clips 200] [--clip_seconds 5.0] [--db_centering true] [--output agreement.json]

It also holds the check for the synthetic set (:func:`is_synthetic_data`) and the warning a run with the acoustic
captioner gives on any other data (:func:`acoustic_captioner_warning`).
"""

import argparse
import logging
import os
import sys

from interpretability.dissection.concepts import concept_texts
from interpretability.dissection.summarizers import normalize_phrase

logger = logging.getLogger(__name__)


def is_synthetic_data(classes, data_folder=None):
    """Whether the data is the synthetic set: its folder holds ``audio_clean/`` and ``meta/events.csv`` (the
    ground truth only the generator writes), or every class is a synthetic class (any spelling)."""
    if (
        data_folder
        and os.path.isdir(os.path.join(data_folder, "audio_clean"))
        and os.path.isfile(os.path.join(data_folder, "meta", "events.csv"))
    ):
        return True
    from interpretability.data.synthetic import CLASSES

    synthetic = {normalize_phrase(c) for c in CLASSES}
    names = {normalize_phrase(c) for c in classes}
    return bool(names) and names <= synthetic


def acoustic_captioner_warning(classes):
    """The warning for a run of the acoustic captioner on data other than the synthetic set."""
    shown = ", ".join(list(classes)[:4]) + (", ..." if len(classes) > 4 else "")
    return (
        "the acoustic captioner describes signal properties only (pitch, tonality, onsets, bandwidth, loudness, "
        f"duration), not sound sources: on this data (classes {shown}) DB and ICL need an audio-language "
        "captioner (captioner: !name:interpretability.dissection.TransformersAudioCaptioner, e.g. "
        "Qwen/Qwen2-Audio-7B-Instruct) and TAB an audio-text encoder (audio_text_encoder: "
        "!name:interpretability.dissection.ClapEncoder, e.g. laion/clap-htsat-unfused); the label-based "
        "figures (label_based in test_metrics.json) need neither"
    )


def clip_targets(labels, classes, concepts, multilabel=False):
    """Per clip the set of concept indices that name one of its classes (empty: the clip cannot be scored)."""
    index = {normalize_phrase(c): j for j, c in enumerate(concepts)}
    to_concept = [index.get(normalize_phrase(c)) for c in classes]
    targets = []
    for label in labels:
        present = (
            [c for c, v in enumerate(label) if v]
            if multilabel
            else [int(label)]
        )
        targets.append(
            {to_concept[c] for c in present if to_concept[c] is not None}
        )
    return targets


def agreement_from_embeddings(
    description_embeddings, concept_embeddings, targets, centering=False
):
    """Share of clips whose description is nearest to one of the clip's own concepts.

    ``[N, d]`` and ``[C, d]`` unit rows; ``targets`` per clip a set of concept indices (empty sets are left out).
    ``centering`` subtracts from each concept's similarity its mean over the N descriptions, as DB's
    ``db_centering`` does. Returns ``(share or None, predicted concept index per clip [N])``.
    """
    similarity = description_embeddings @ concept_embeddings.T
    if centering:
        similarity = similarity - similarity.mean(dim=0, keepdim=True)
    predicted = similarity.argmax(dim=1)
    scored = [(int(p), t) for p, t in zip(predicted.tolist(), targets) if t]
    share = sum(p in t for p, t in scored) / len(scored) if scored else None
    return share, predicted


def captioner_agreement(
    descriptions,
    labels,
    classes,
    concepts,
    text_encoder,
    template="{}",
    multilabel=False,
    centering=False,
):
    """:func:`agreement_from_embeddings` from descriptions: returns ``{"agreement", "n_clips", "per_class",
    "predicted"}`` (``per_class``: the agreement over the clips of each class that is a concept)."""
    targets = clip_targets(labels, classes, concepts, multilabel)
    if not any(targets):
        logger.warning(
            "no clip's class is in the concept set: no captioner agreement"
        )
        return {
            "agreement": None,
            "n_clips": 0,
            "per_class": {},
            "predicted": [],
        }
    embeddings = text_encoder.encode(list(descriptions))
    concept_embeddings = text_encoder.encode(concept_texts(concepts, template))
    share, predicted = agreement_from_embeddings(
        embeddings, concept_embeddings, targets, centering
    )
    per_class = {}
    for j, concept in enumerate(concepts):
        rows = [i for i, t in enumerate(targets) if j in t]
        if rows:
            per_class[concept] = sum(
                int(predicted[i]) in targets[i] for i in rows
            ) / len(rows)
    return {
        "agreement": share,
        "n_clips": sum(1 for t in targets if t),
        "per_class": per_class,
        "predicted": [concepts[int(p)] for p in predicted],
    }


# ------------------------------------------------------------------------------------------ command line
_LAYOUTS = {
    "esc50": ("interpretability.data.esc50", "prepare_esc50", False),
    "us8k": ("interpretability.data.us8k", "prepare_us8k", False),
    "sonyc": ("interpretability.data.sonyc_ust", "prepare_sonyc_ust", True),
}


def _flag(text):
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def main(argv=None):
    """Describe the clips of some splits with the offline captioner and print / write their agreement."""
    import importlib
    import tempfile

    from interpretability.data.pipelines import classification_datasets
    from interpretability.dissection.captioners import AcousticCaptioner
    from interpretability.dissection.encoders import SentenceEncoder
    from interpretability.dissection.probing import ProbingSet
    from interpretability.errors import InputError
    from interpretability.results import atomic_write_json

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_folder", required=True)
    parser.add_argument("--layout", choices=sorted(_LAYOUTS), default="esc50")
    parser.add_argument(
        "--splits",
        nargs="+",
        default=["valid"],
        choices=("train", "valid", "test"),
    )
    parser.add_argument(
        "--max_clips",
        type=int,
        default=200,
        help="a seeded random subset (0: every clip)",
    )
    parser.add_argument("--clip_seconds", type=float, default=5.0)
    parser.add_argument("--concept_template", default="{}")
    parser.add_argument("--db_centering", type=_flag, default=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--output", default=None, help="JSON file for the result"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s - %(message)s")
    module, function, multilabel = _LAYOUTS[args.layout]
    try:
        with tempfile.TemporaryDirectory() as save_folder:
            manifests = getattr(importlib.import_module(module), function)(
                args.data_folder, save_folder
            )
            datasets = classification_datasets(
                {s: manifests[s] for s in args.splits},
                args.clip_seconds,
                multilabel=multilabel,
                with_clean=False,
            )
            clips = ProbingSet.from_datasets(
                [datasets[s] for s in args.splits],
                manifests["classes"],
                multilabel=multilabel,
                max_clips=args.max_clips or None,
                seed=args.seed,
            )
            captioner = AcousticCaptioner()
            descriptions = [
                captioner.describe(clips.wav(i)) for i in range(len(clips))
            ]
    except InputError as err:
        sys.stderr.write(f"error: {err}\n")
        return 2
    if not is_synthetic_data(clips.classes, args.data_folder):
        logger.warning("%s", acoustic_captioner_warning(clips.classes))
    result = captioner_agreement(
        descriptions,
        clips.labels,
        clips.classes,
        clips.classes,
        SentenceEncoder(),
        args.concept_template,
        multilabel,
        args.db_centering,
    )
    result = {
        "splits": args.splits,
        "ids": clips.ids,
        "descriptions": descriptions,
        "centering": args.db_centering,
        **result,
    }
    logger.info(
        "captioner agreement on %d clips of %s: %s",
        result["n_clips"],
        args.splits,
        "n/a" if result["agreement"] is None else f"{result['agreement']:.3f}",
    )
    if args.output:
        atomic_write_json(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
