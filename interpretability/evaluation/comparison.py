"""The comparison protocol of the L-MAC paper (METHODS.md, "Baselines", "Out-of-domain evaluation"): every method
on the same clips, in-domain and out-of-domain, scored by the shared metrics.

Conditions (``CONDITIONS``): ``in_domain`` (the test clip), ``other_class_mixture`` (0.8 / 0.2 of unit-norm
signals with another test clip of a different class), ``white_noise`` (1 / 0.5) and ``speech_mixture`` (0.8 / 0.2
with crops of a folder of speech wavs; only when one is given). Masks and metrics are both computed on the
(mixed) input, each row explaining the classifier's decision on it. Where the clean target is known (synthetic
set) SI-SDR and the oracle overlap are scored against it; SI-SDR and the oracle mask are scale-invariant, so the
clean event itself serves in every condition.

:func:`compare` returns ``{condition: {method: {metric: value}}}``; :func:`run_comparison` is what the
``evaluate.py`` recipes call: it loads the classifier and interpreters, runs the comparison and the randomisation
sanity check, and writes ``comparison.json`` (``sanity`` beside the conditions), ``comparison.md`` and
``margins.json`` (how far L-MAC, L-MAC FT and L2I are ahead of the best baseline on AI, AD and AG).
"""
import copy
import logging
import os

import torch
from tqdm import tqdm

from interpretability.brains.interpreter import ClipView, explanation_metrics
from interpretability.data.mixtures import ContaminantBank, ood_mixture
from interpretability.errors import DataError, InputError
from interpretability.evaluation.explainers import AllOnesExplainer, RandomExplainer, load_trained_explainer
from interpretability.evaluation.retraining import retrained_sanity
from interpretability.evaluation.sanity import cascading_randomisation
from interpretability.evaluation.tables import comparison_markdown, margins
from interpretability.interpreters.gradient import BASELINES, MelDomainClassifier, gradient_explainers, mel_view
from interpretability.metrics.stats import MetricCollector
from interpretability.results import atomic_write_json, atomic_write_text

logger = logging.getLogger(__name__)

CONDITIONS = ("in_domain", "other_class_mixture", "white_noise", "speech_mixture")
CONTROLS = ("all_ones", "random")
GRADIENT_SETTINGS = ("smoothgrad_samples", "smoothgrad_stdev", "ig_steps", "shap_samples", "shap_stdev",
                     "internal_batch_size")


def other_class_partners(labels, generator):
    """For each clip, the index of another clip that shares none of its classes, drawn with ``generator``.

    ``labels``: a list of sets of class indices (one element for a multi-class clip). Raises DataError when a
    clip has no such partner.
    """
    partners = []
    for index, classes in enumerate(labels):
        candidates = [j for j, other in enumerate(labels) if j != index and not (classes & other)]
        if not candidates:
            raise DataError(f"clip {index} of the evaluation set has no clip of another class to be mixed with "
                            "(other_class_mixture needs at least two classes)")
        partners.append(candidates[int(torch.randint(len(candidates), (1,), generator=generator))])
    return partners


def condition_input(condition, wavs, partner_wavs=None, speech=None, generator=None):
    """The input ``[B, N]`` of a condition for the clean clips ``wavs`` ``[B, N]``."""
    if condition == "in_domain":
        return wavs
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; known: {list(CONDITIONS)}")
    return ood_mixture(wavs, condition, other=partner_wavs, speech=speech, generator=generator)


def build_explainers(classifier, trained=None, methods=BASELINES, mel_domain=False, gradient_settings=None,
                     gradcam_layer=None, seed=0):
    """``{name: explainer}``: the gradient baselines (and their ``_mel`` variants), the trained interpreters
    ``trained`` (``{name: explainer}``, e.g. ``lmac``, ``lmac_ft``, ``l2i``) and the controls; ``random`` matches
    the mean of ``lmac``'s masks when it is there."""
    settings = dict(gradient_settings or {}, layer=gradcam_layer, seed=seed)
    explainers = dict(gradient_explainers(classifier, methods, "linear", **settings))
    if mel_domain:
        explainers.update(gradient_explainers(classifier, methods, "mel", **settings))
    explainers.update(trained or {})
    explainers["all_ones"] = AllOnesExplainer()
    explainers["random"] = RandomExplainer(reference=(trained or {}).get("lmac"), seed=seed)
    return explainers


def explain_and_score(classifier, view, explainers, mask_domain="linear"):
    """``{name: {metric: [R]}}`` of every explainer on one view (``_mel`` methods scored in the mel domain)."""
    scores = {}
    mel_model, mel_rows = None, None
    for name, explainer in explainers.items():
        mask = explainer.explain(view).detach()
        if getattr(explainer, "domain", "linear") == "mel":
            if mel_model is None:
                mel_model, mel_rows = MelDomainClassifier(classifier), mel_view(view, classifier)
            scores[name] = explanation_metrics(mel_model, mel_rows, mask, "linear")
        else:
            scores[name] = explanation_metrics(classifier, view, mask, mask_domain)
    return scores


def mixture_target(condition, batch, multilabel=False):
    """The clean target of a condition's rows: the clean event where it is known (``batch["clean"]``, the
    synthetic set); otherwise, in the mixture conditions, the clip before it was mixed (what the explanation should
    pull out of the mixture; the contaminant holds none of the clip's classes), and nothing in-domain.

    For a multi-label classifier the target is per class ``[B, C, N]``: the clip for its own classes
    (``batch["targets"]`` ``[B, C]``), the partner clip for the partner's classes (other-class mixture), silence
    for the others. Returns None where there is no target.
    """
    if batch.get("clean") is not None:
        return batch["clean"]
    if condition == "in_domain":
        return None
    wavs = batch["wavs"]
    if not multilabel:
        return wavs
    if batch.get("targets") is None:
        return None
    sources = batch["targets"].unsqueeze(-1).to(wavs) * wavs.unsqueeze(1)
    if condition == "other_class_mixture" and batch.get("partner_targets") is not None:
        partner_only = (batch["partner_targets"] > 0.5) & (batch["targets"] < 0.5)
        sources = sources + partner_only.unsqueeze(-1).to(wavs) * batch["partner_wavs"].unsqueeze(1)
    return sources


def compare(classifier, explainers, batches, conditions=CONDITIONS[:3], mask_domain="linear", speech_bank=None,
            seed=0, classes=None, show_progress=True, total=None, keep_rows=None):
    """Every explainer in every condition on the same clips.

    Arguments
    ---------
    classifier : the explained classifier (eval mode).
    explainers : ``{name: explainer}`` (see :func:`build_explainers`).
    batches : iterable of dicts with ``ids`` (list of str), ``wavs`` ``[B, N]``, optionally ``clean`` ``[B, N]``
        (the clean target; ``[B, C, N]``, each class's source, for a multi-label classifier), ``partner_wavs``
        ``[B, N]`` (clips of other classes, for ``other_class_mixture``) and, multi-label, ``targets`` /
        ``partner_targets`` ``[B, C]`` (see :func:`mixture_target`).
    conditions : names from ``CONDITIONS``; ``speech_mixture`` needs ``speech_bank`` (a ContaminantBank).
    mask_domain : the masking domain of the linear-grid methods.
    classes : class names, for the ids of multi-label rows (``<clip>__<class>``).
    total : the number of batches, for the progress bar.
    keep_rows : how many in-domain rows to keep as views for the sanity check (None: all; memory then grows
        with the number of clips).

    Returns
    -------
    ``{condition: {method: {metric: mean over rows, ..., "FF_median", "n_rows"}}}``, and the first ``keep_rows``
    in-domain rows as ClipViews (for the sanity check) as a second value.
    """
    if "speech_mixture" in conditions and speech_bank is None:
        raise InputError("the speech_mixture condition needs a folder of speech wavs (--speech_folder)")
    collectors = {c: {name: MetricCollector() for name in explainers} for c in conditions}
    generators = {c: torch.Generator().manual_seed(seed + i) for i, c in enumerate(conditions)}
    in_domain_views, kept = [], 0
    multilabel = bool(getattr(classifier, "multilabel", False))
    for batch in tqdm(batches, desc="comparison", total=total, disable=not show_progress):
        for condition in conditions:
            speech = None
            if condition == "speech_mixture":
                speech = speech_bank.sample(batch["wavs"].shape[0], generators[condition]).to(batch["wavs"])
            wavs = condition_input(condition, batch["wavs"], batch.get("partner_wavs"), speech, generators[condition])
            view = ClipView(wavs, classifier, mixture_target(condition, batch, multilabel))
            if condition == "in_domain" and (keep_rows is None or kept < keep_rows):
                in_domain_views.append(view if keep_rows is None else first_rows(view, keep_rows - kept))
                kept += len(in_domain_views[-1].decision)
            ids = view.row_ids(batch["ids"], classes)
            for name, metrics in explain_and_score(classifier, view, explainers, mask_domain).items():
                collectors[condition][name].append(ids, {k: v.cpu() for k, v in metrics.items()})
    results = {}
    for condition, by_method in collectors.items():
        results[condition] = {}
        for name, collector in by_method.items():
            summary = collector.summarize()
            summary["n_rows"] = len(collector.ids)
            results[condition][name] = summary
    return results, in_domain_views


# ---- the evaluate.py recipes -------------------------------------------------------------------------------


def _evaluation_clips(dataset, multilabel, max_clips, seed):
    """Indices of the evaluated clips (all, or a seeded random subset of ``max_clips`` in manifest order) and
    every clip's set of classes."""
    keys = ["id", "target_vector"] if multilabel else ["id", "class_id"]
    with dataset.output_keys_as(keys):
        labels = []
        for item in dataset:
            if multilabel:
                labels.append(set(torch.nonzero(item["target_vector"] > 0.5).flatten().tolist()))
            else:
                labels.append({int(item["class_id"].reshape(-1)[0])})
    indices = list(range(len(labels)))
    if max_clips and max_clips < len(indices):
        generator = torch.Generator().manual_seed(seed)
        indices = sorted(torch.randperm(len(indices), generator=generator)[:int(max_clips)].tolist())
    return indices, labels


def clip_batches(dataset, indices, partners, batch_size, device="cpu"):
    """Yield the batches :func:`compare` reads, from a DynamicItemDataset of fixed-length clips."""
    for start in range(0, len(indices), batch_size):
        chosen = indices[start:start + batch_size]
        items = [dataset[i] for i in chosen]
        batch = {"ids": [item["id"] for item in items],
                 "wavs": torch.stack([item["sig"] for item in items]).to(device)}
        for key in ("clean_class_sig", "clean_sig"):  # each class's source (multi-label) or the target event
            if all(key in item for item in items):
                batch["clean"] = torch.stack([item[key] for item in items]).to(device)
                break
        if all("target_vector" in item for item in items):
            batch["targets"] = torch.stack([item["target_vector"] for item in items]).to(device)
        if partners is not None:
            keys = ["sig", "target_vector"] if "targets" in batch else ["sig"]
            with dataset.output_keys_as(keys):
                partner_items = [dataset[partners[i]] for i in chosen]
            batch["partner_wavs"] = torch.stack([item["sig"] for item in partner_items]).to(device)
            if "targets" in batch:
                batch["partner_targets"] = torch.stack([item["target_vector"] for item in partner_items]).to(device)
        yield batch


def run_comparison(hparams, manifests, run_opts=None):
    """The ``evaluate.py`` recipes: compare every method on the test split and write the result files.

    hparams: ``pretrained_classifier``, ``pretrained_interpreter`` (L-MAC), ``pretrained_lmac_ft``,
    ``pretrained_l2i`` (each optional but the classifier), ``methods`` (gradient baselines),
    ``mel_domain_baselines``, the gradient settings (``smoothgrad_samples``, ``smoothgrad_stdev``, ``ig_steps``,
    ``shap_samples``, ``shap_stdev``, ``internal_batch_size``, ``gradcam_layer``), ``conditions``,
    ``speech_folder``, ``mask_domain`` (null: the L-MAC interpreter's), ``clip_seconds``, ``batch_size``,
    ``max_clips``, ``sanity_clips``, ``sanity_steps``, ``seed``, ``output_folder``.

    Returns ``{condition: {method: {metric: value}}, "sanity": {method: {...}}}``.
    """
    from interpretability.brains.training import load_explained_classifier
    from interpretability.data.pipelines import classification_datasets

    device = (run_opts or {}).get("device", "cpu")
    classifier, classifier_source = load_explained_classifier(hparams, manifests)
    classifier = classifier.to(device).eval().requires_grad_(False)

    trained, domains = {}, {}
    for name, key in (("lmac", "pretrained_interpreter"), ("lmac_ft", "pretrained_lmac_ft"), ("l2i", "pretrained_l2i")):
        if hparams.get(key):
            explainer, method, domain = load_trained_explainer(hparams[key], classifier, classifier_source, device)
            if (name == "l2i") != (method == "l2i") or method not in ("lmac", "lmac_ft", "l2i"):
                raise InputError(f"{hparams[key]}: --{key} expects a {'L2I' if name == 'l2i' else 'L-MAC'} "
                                 f"interpreter, this one is {method!r}")
            trained[name], domains[name] = explainer, domain
    mask_domain = hparams.get("mask_domain") or domains.get("lmac") or next(iter(domains.values()), "linear")
    mismatched = {name: domain for name, domain in domains.items() if domain != mask_domain}
    if mismatched:
        raise InputError(f"interpreters trained with another mask domain than {mask_domain!r}: {mismatched}; "
                         "compare interpreters of one domain")

    conditions = [c for c in hparams.get("conditions", CONDITIONS) if c != "speech_mixture"
                  or hparams.get("speech_folder")]
    speech_bank = None
    if "speech_mixture" in conditions:
        speech_bank = ContaminantBank(hparams["speech_folder"], int(round(hparams["clip_seconds"] * 16000)),
                                      seed=hparams.get("seed", 0))
    settings = {key: hparams[key] for key in GRADIENT_SETTINGS if hparams.get(key) is not None}
    explainers = build_explainers(classifier, trained, hparams.get("methods", BASELINES),
                                  hparams.get("mel_domain_baselines", False), settings, hparams.get("gradcam_layer"),
                                  seed=hparams.get("seed", 0))

    dataset = classification_datasets(manifests, hparams["clip_seconds"], multilabel=classifier.multilabel)["test"]
    seed = int(hparams.get("seed", 0))
    indices, labels = _evaluation_clips(dataset, classifier.multilabel, hparams.get("max_clips"), seed)
    partners = None
    if "other_class_mixture" in conditions:
        partners = other_class_partners(labels, torch.Generator().manual_seed(seed))
    logger.info("Comparing %d methods on %d clips in %s", len(explainers), len(indices), conditions)
    batch_size = int(hparams.get("batch_size", 8))
    batches = clip_batches(dataset, indices, partners, batch_size, device)
    sanity_clips = int(hparams.get("sanity_clips", 0) or 0)
    results, kept = compare(classifier, explainers, batches, conditions, mask_domain, speech_bank, seed,
                            classes=manifests["classes"], total=-(-len(indices) // batch_size), keep_rows=sanity_clips)

    if sanity_clips > 0 and kept:
        checked = {name: e for name, e in explainers.items() if not getattr(e, "constant", False)}
        results["sanity"] = cascading_randomisation(classifier, checked, kept, hparams.get("sanity_steps"), seed)
        if hparams.get("sanity_retrain", False):
            retrained = {name: (explainer.description.get("method", name), explainer.description,
                                explainer.interpreter, explainer.mask_domain)
                         for name, explainer in trained.items() if name in ("lmac", "l2i")}
            checked = {name: e for name, e in checked.items() if name in retrained or hasattr(e, "with_classifier")}
            results["sanity_retrained"] = retrained_sanity(
                classifier, checked, retrained, kept, manifests, hparams["clip_seconds"],
                os.path.join(hparams["output_folder"], "sanity"), epochs=hparams.get("sanity_retrain_epochs"),
                classifier_epochs=int(hparams.get("sanity_classifier_epochs", 20)),
                max_clips=hparams.get("sanity_retrain_clips"), seed=seed, device=device)

    folder = hparams["output_folder"]
    atomic_write_json(os.path.join(folder, "comparison.json"), results)
    notes = dict(settings, clips=len(indices), mask_domain=mask_domain,
                 ground_truth="the clean event where known (synthetic set), else in the mixtures the clip before mixing",
                 gradcam_layer=hparams.get("gradcam_layer") or classifier.interpretable_layers[-1])
    atomic_write_text(os.path.join(folder, "comparison.md"), comparison_markdown(results, notes))
    if trained:
        atomic_write_json(os.path.join(folder, "margins.json"),
                          margins(results, baselines=hparams.get("methods", BASELINES)))
    logger.info("Comparison written to %s", os.path.join(folder, "comparison.json"))
    return results


def first_rows(view, n):
    """A view of the first ``n`` rows of ``view``."""
    if len(view.decision) <= n:
        return view
    part = copy.copy(view)
    for name in ("wavs", "magnitude", "phase", "logits", "probs", "decision", "row_clip", "clean"):
        value = getattr(view, name)
        setattr(part, name, value[:n] if value is not None else None)
    part.hidden = {k: v[:n] for k, v in view.hidden.items()}
    part._clean_magnitude = None
    return part
