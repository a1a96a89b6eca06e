"""Listening cards: the input, the clean event where known and the listenable explanation of every method on a few
test clips, in-domain and out-of-domain, written as wav files and small pictures beside the report.

Clips are chosen by class (``clips_per_class`` of every class, seeded) from the test split manifest. Every method
explains the classifier's decision through the comparison's interface (``explain(view) -> mask``), and is heard as
``ISTFT(M|X|, phase)`` (:func:`~interpretability.spectral.listenable`): the gradient baselines as well as L-MAC,
L-MAC FT and L2I. Each card row holds the method's player, a picture of the masked spectrogram (on the input's
colour scale), the classifier's probability of the decided class on what the explanation keeps (``p_in``), the
mask mean and, with a clean event, the SI-SDR of the explanation against it.
"""

import logging
import os
import random
import re
import time
from dataclasses import dataclass

import torch

from interpretability.audio import SAMPLE_RATE, pad_or_crop, read_audio
from interpretability.brains.interpreter import ClipView
from interpretability.data.mixtures import ood_mixture
from interpretability.errors import DataError, InputError
from interpretability.interpreters.gradient import BASELINES
from interpretability.metrics.ground_truth import si_sdr
from interpretability.report.collect import read_json
from interpretability.report.figures import _db, save_spectrogram_thumbnail
from interpretability.report.files import write_wav as _write_wav
from interpretability.spectral import apply_mask, listenable

logger = logging.getLogger(__name__)

CONTROLS = ("all_ones", "random")


@dataclass
class ListeningOptions:
    """How many cards and how costly their baselines are (cheaper than the comparison's settings: the cards are
    for listening; the comparison's tables hold the measured metrics)."""

    clips_per_class: int = 2
    ood_clips: int = 2
    methods: tuple = BASELINES
    controls: tuple = ("random",)
    ig_steps: int = 8
    smoothgrad_samples: int = 4
    shap_samples: int = 4
    l2i_components: int = 3
    l2i_clips: int = 4
    batch_size: int = 8
    seed: int = 0
    device: str = "cpu"

    def gradient_settings(self):
        return {
            "ig_steps": self.ig_steps,
            "smoothgrad_samples": self.smoothgrad_samples,
            "shap_samples": self.shap_samples,
        }


def safe_name(text):
    """A file-name-safe version of a clip id."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_") or "clip"


def load_manifest(path):
    """A test-split manifest ``{id: entry}``."""
    data = read_json(path)
    if not isinstance(data, dict) or not data:
        raise DataError(
            f"{path}: expected a manifest of clips (a JSON object id -> entry), found none"
        )
    return data


def clip_classes(entry, path="manifest", clip_id="?"):
    """The class indices of a manifest entry (``label_id``, or the present ``targets`` of a multi-label one)."""
    if "label_id" in entry:
        return [int(entry["label_id"])]
    if "targets" in entry:
        return [
            i for i, value in enumerate(entry["targets"]) if float(value) >= 0.5
        ]
    raise DataError(f"{path}: clip {clip_id} has neither label_id nor targets")


def choose_clips(manifest, n_classes, per_class, seed=0, path="manifest"):
    """``per_class`` clip ids of every class (a seeded draw, by class, not by file order), class by class;
    a multi-label clip counts for its first class."""
    by_class = {c: [] for c in range(n_classes)}
    for clip_id in sorted(manifest):
        classes = clip_classes(manifest[clip_id], path, clip_id)
        if classes and classes[0] in by_class:
            by_class[classes[0]].append(clip_id)
    rng = random.Random(seed)
    chosen = []
    for c in range(n_classes):
        ids = by_class[c]
        chosen += sorted(rng.sample(ids, min(per_class, len(ids))))
    return chosen


def _load(entry, key, samples, path, clip_id):
    if key not in entry:
        return None
    wav_path = entry[key]
    if not os.path.isfile(wav_path):
        raise DataError(
            f"{path}: clip {clip_id}: {key} file {wav_path} not found (was the data folder moved?)"
        )
    return pad_or_crop(
        read_audio(wav_path, SAMPLE_RATE, allow_silent=True), samples
    )


def _select_rows(view, rows):
    """The rows ``rows`` (long ``[R']``) of a ClipView, as a new view."""
    import copy

    part = copy.copy(view)
    for name in (
        "wavs",
        "magnitude",
        "phase",
        "logits",
        "probs",
        "decision",
        "row_clip",
    ):
        setattr(part, name, getattr(view, name)[rows])
    part.hidden = {k: v[rows] for k, v in view.hidden.items()}
    part.clean = view.clean[rows] if view.clean is not None else None
    part._clean_magnitude = None
    return part


def _top_rows(view, n_clips):
    """One row per clip: the decided class of a multi-class clip, the most probable present class of a multi-label
    one."""
    if not view.multilabel:
        return view
    rows = []
    score = view.probs[torch.arange(len(view.decision)), view.decision]
    for clip in range(n_clips):
        candidates = (view.row_clip == clip).nonzero(as_tuple=True)[0]
        rows.append(int(candidates[score[candidates].argmax()]))
    return _select_rows(view, torch.tensor(rows, dtype=torch.long))


class ListeningCards:
    """Computes the cards of clips and writes their files under ``out_dir`` (``audio/``, ``img/``)."""

    def __init__(
        self,
        classifier,
        classes,
        explainers,
        out_dir,
        mask_domain="linear",
        options=None,
    ):
        self.classifier = classifier
        self.classes = list(classes)
        self.explainers = explainers
        self.out_dir = out_dir
        self.mask_domain = mask_domain
        self.options = options or ListeningOptions()
        self.seconds = {}

    def _class_name(self, index):
        return (
            self.classes[index]
            if 0 <= index < len(self.classes)
            else str(index)
        )

    def _paths(self, key, what):
        return (
            os.path.join(self.out_dir, "audio", f"{key}_{what}.wav"),
            os.path.join(self.out_dir, "img", f"{key}_{what}.png"),
        )

    def _tick(self, name, start):
        self.seconds[name] = (
            self.seconds.get(name, 0.0) + time.perf_counter() - start
        )

    def cards(self, items, condition="in_domain"):
        """Cards of ``items``: dicts with ``key`` (file stem), ``id``, ``title``, ``wav`` ``[N]``, optionally
        ``clean`` ``[N]`` and ``true`` (class indices). Returns a list of card dicts (paths are absolute)."""
        cards = []
        size = max(1, int(self.options.batch_size))
        for start in range(0, len(items), size):
            cards += self._batch_cards(items[start : start + size], condition)
        return cards

    def _batch_cards(self, items, condition):
        wavs = torch.stack([item["wav"] for item in items]).to(
            self.options.device
        )
        has_clean = all(item.get("clean") is not None for item in items)
        clean = (
            torch.stack([item["clean"] for item in items]).to(wavs)
            if has_clean
            else None
        )
        tick = time.perf_counter()
        view = _top_rows(ClipView(wavs, self.classifier, clean), len(items))
        self._tick("forward", tick)
        n_samples = wavs.shape[-1]
        rows = torch.arange(len(view.decision))
        probability = view.probs[rows, view.decision]
        cards = [
            self._card_head(item, view, i, condition)
            for i, item in enumerate(items)
        ]
        for name, explainer in self.explainers.items():
            tick = time.perf_counter()
            mask = explainer.explain(view).detach()
            self._tick(f"mask {name}", tick)
            tick = time.perf_counter()
            with torch.no_grad():
                explanation = listenable(
                    view.magnitude,
                    view.phase,
                    mask,
                    n_samples,
                    self.mask_domain,
                )
                kept = self.classifier.probabilities(
                    self.classifier(
                        apply_mask(view.magnitude, mask, self.mask_domain)
                    )
                )[rows, view.decision]
                sisdr = (
                    si_sdr(explanation, view.clean)
                    if view.clean is not None
                    else None
                )
                masked = apply_mask(view.magnitude, mask, self.mask_domain)
            for i, card in enumerate(cards):
                audio_path, image_path = self._paths(card["key"], name)
                _write_wav(audio_path, explanation[i])
                save_spectrogram_thumbnail(
                    image_path, masked[i], card["reference_db"]
                )
                card["methods"].append(
                    {
                        "method": name,
                        "audio": audio_path,
                        "image": image_path,
                        "p_in": float(kept[i]),
                        "mask_mean": float(mask[i].mean()),
                        "SISDR": float(sisdr[i]) if sisdr is not None else None,
                        "SISDR_gain": float(sisdr[i]) - card["SISDR_input"]
                        if sisdr is not None
                        else None,
                    }
                )
            self._tick("files", tick)
        for card, p in zip(cards, probability.tolist()):
            card["probability"] = p
        if "l2i" in self.explainers and condition == "in_domain":
            self._l2i_components(view, cards)
        return cards

    def _card_head(self, item, view, i, condition):
        key = item["key"]
        decision = int(view.decision[i])
        true = item.get("true") or []
        input_path, input_image = self._paths(key, "input")
        _write_wav(input_path, view.wavs[i])
        card = {
            "key": key,
            "id": item["id"],
            "title": item.get("title", item["id"]),
            "condition": condition,
            "decision": self._class_name(decision),
            "correct": decision in true if true else None,
            "true": [self._class_name(c) for c in true],
            "input": input_path,
            "input_image": input_image,
            "clean": None,
            "clean_image": None,
            "SISDR_input": None,
            "methods": [],
            "components": [],
            "partner": item.get("partner"),
            "seconds": view.wavs.shape[-1] / SAMPLE_RATE,
        }
        card["reference_db"] = float(_db(view.magnitude[i]).max())
        tick = time.perf_counter()
        save_spectrogram_thumbnail(
            input_image, view.magnitude[i], card["reference_db"]
        )
        if view.clean is not None:
            clean_path, clean_image = self._paths(key, "clean")
            _write_wav(clean_path, view.clean[i])
            card["clean"], card["clean_image"] = clean_path, clean_image
            card["SISDR_input"] = float(
                si_sdr(view.wavs[i : i + 1], view.clean[i : i + 1])[0]
            )
            save_spectrogram_thumbnail(clean_image, view.clean_magnitude[i])
        self._tick("figures", tick)
        return card

    @torch.no_grad()
    def _l2i_components(self, view, cards):
        """The top ``l2i_components`` components (by relevance, among those L2I selects) of each card's clip."""
        from interpretability.interpreters.l2i import component_masks, relevance

        interpreter = self.explainers["l2i"].interpreter
        activations, _, pooled, _ = interpreter(view.hidden, view.n_frames)
        scores = relevance(pooled, interpreter.theta.head.weight, view.decision)
        for i, card in enumerate(cards):
            order = scores[i].argsort(descending=True)
            chosen = [
                int(k)
                for k in order[: self.options.l2i_components]
                if scores[i, k] > interpreter.tau
            ]
            if not chosen:
                continue
            masks = component_masks(
                interpreter.dictionary,
                activations[i : i + 1],
                torch.tensor(chosen),
                interpreter.eps,
            )[0]
            for k, mask in zip(chosen, masks):
                audio_path, image_path = self._paths(
                    card["key"], f"l2i_component{k}"
                )
                _write_wav(
                    audio_path,
                    listenable(
                        view.magnitude[i],
                        view.phase[i],
                        mask,
                        view.wavs.shape[-1],
                        self.mask_domain,
                    ),
                )
                save_spectrogram_thumbnail(
                    image_path,
                    apply_mask(view.magnitude[i], mask, self.mask_domain),
                    card["reference_db"],
                )
                card["components"].append(
                    {
                        "component": k,
                        "relevance": float(scores[i, k]),
                        "audio": audio_path,
                        "image": image_path,
                        "mask_mean": float(mask.mean()),
                    }
                )


def load_models(results, options):
    """The classifier, its class names, the explainers (baselines, trained interpreters, controls) and the mask
    domain, for a :class:`~interpretability.report.collect.ResultsFolder`; notes on what was left out."""
    from interpretability.classifiers.io import load_classifier
    from interpretability.evaluation.comparison import build_explainers
    from interpretability.evaluation.explainers import load_trained_explainer

    source = results.classifier_source()
    if source is None:
        raise InputError(
            f"{results.root}: no exported classifier (classifier/model.ckpt) to explain"
        )
    classifier, description = load_classifier(source, device=options.device)
    classifier = classifier.eval().requires_grad_(False)
    trained, domains, notes = {}, {}, []
    for name, folder in results.interpreters.items():
        try:
            explainer, _, domain = load_trained_explainer(
                folder, classifier, source, options.device
            )
        except InputError as err:
            notes.append(f"{name} left out: {err}")
            logger.warning(
                "report: %s left out of the listening cards: %s", name, err
            )
            continue
        trained[name], domains[name] = explainer, domain
    mask_domain = domains.get("lmac") or next(iter(domains.values()), "linear")
    for name in [n for n, d in domains.items() if d != mask_domain]:
        notes.append(
            f"{name} left out: trained with the {domains[name]} mask domain, the others with {mask_domain}"
        )
        trained.pop(name)
    explainers = build_explainers(
        classifier,
        trained,
        tuple(options.methods),
        False,
        options.gradient_settings(),
        seed=options.seed,
    )
    explainers = {
        name: e
        for name, e in explainers.items()
        if name not in CONTROLS or name in options.controls
    }
    ordered = {
        name: explainers[name]
        for name in (*options.methods, *trained, *options.controls)
        if name in explainers
    }
    return classifier, description, ordered, mask_domain, notes


def listening_cards(results, out_dir, options=None):
    """Compute every card of a results folder.

    Returns ``{"in_domain": [card], "other_class_mixture": [card], "white_noise": [card], "notes": [str],
    "seconds": {stage: s}, "methods": [name]}``; empty lists where a part is missing.
    """
    options = options or ListeningOptions()
    started = time.perf_counter()
    classifier, description, explainers, mask_domain, notes = load_models(
        results, options
    )
    classes = description["classes"]
    if not results.manifests:
        raise InputError(
            f"{results.root}: no test-split manifest (save/test.json) to choose clips from"
        )
    path = results.manifests[0]
    manifest = load_manifest(path)
    samples = int(
        round(float(description.get("clip_seconds") or 2.0) * SAMPLE_RATE)
    )
    chosen = choose_clips(
        manifest, len(classes), options.clips_per_class, options.seed, path
    )
    items = []
    for clip_id in chosen:
        entry = manifest[clip_id]
        true = clip_classes(entry, path, clip_id)
        items.append(
            {
                "key": safe_name(clip_id),
                "id": clip_id,
                "title": clip_id,
                "true": true,
                "wav": _load(entry, "wav", samples, path, clip_id),
                "clean": _load(entry, "clean_wav", samples, path, clip_id),
            }
        )
    builder = ListeningCards(
        classifier, classes, explainers, out_dir, mask_domain, options
    )
    torch.manual_seed(options.seed)
    result = {
        "in_domain": builder.cards(items),
        "notes": notes,
        "methods": list(explainers),
        "mask_domain": mask_domain,
        "manifest": path,
    }
    result["in_domain_l2i"] = [
        c for c in result["in_domain"] if c["components"]
    ][: options.l2i_clips]

    # out of domain: the first clips of different classes, mixed with a clip of another class / white noise
    firsts, seen = [], set()
    for item in items:
        if item["true"] and item["true"][0] not in seen:
            seen.add(item["true"][0])
            firsts.append(item)
    rng = random.Random(options.seed + 1)
    ood = firsts[: options.ood_clips]
    generator = torch.Generator().manual_seed(options.seed)
    for condition in ("other_class_mixture", "white_noise"):
        mixed = []
        for item in ood:
            if condition == "other_class_mixture":
                others = [
                    o for o in items if not set(o["true"]) & set(item["true"])
                ]
                if not others:
                    continue
                partner = rng.choice(others)
                wav = ood_mixture(
                    item["wav"].unsqueeze(0),
                    condition,
                    other=partner["wav"].unsqueeze(0),
                )[0]
                suffix, title = "mix", f"{item['id']} + 0.2 × {partner['id']}"
            else:
                partner = None
                wav = ood_mixture(
                    item["wav"].unsqueeze(0), condition, generator=generator
                )[0]
                suffix, title = "noise", f"{item['id']} + 0.5 × white noise"
            mixed.append(
                dict(
                    item,
                    key=f"{item['key']}_{suffix}",
                    wav=wav,
                    title=title,
                    partner=partner["id"] if partner else None,
                )
            )
        result[condition] = builder.cards(mixed, condition)
    result["seconds"] = dict(
        builder.seconds, total=time.perf_counter() - started
    )
    logger.info(
        "report: %d listening cards of %d methods in %.1f s (%s)",
        sum(
            len(result[c])
            for c in ("in_domain", "other_class_mixture", "white_noise")
        ),
        len(explainers),
        result["seconds"]["total"],
        ", ".join(
            f"{name} {s:.1f} s"
            for name, s in result["seconds"].items()
            if name != "total"
        ),
    )
    return result
