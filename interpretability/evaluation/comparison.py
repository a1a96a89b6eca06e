"""The comparison protocol of the L-MAC paper (docs/methods.md, "Baselines", "Out-of-domain evaluation"): every method
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

Long runs: the scores of each (condition, batch) are appended to ``comparison.partial*.jsonl`` as they are computed
(:class:`ComparisonRecords`) and the sanity check's results and trained models are cached in ``sanity/``, so a
killed run started again with the same command skips what is done and ends with the same files. Under torchrun each
process scores a block of the batches and the main process gathers them (in batch order: the same numbers as one
process) and runs the sanity check. Memory does not grow with the clips beyond one float per (row, metric, method,
condition).
"""

import copy
import glob
import hashlib
import json
import logging
import os

import torch
from tqdm import tqdm

from interpretability.brains.interpreter import ClipView, explanation_metrics
from interpretability.data.mixtures import ContaminantBank, ood_mixture
from interpretability.errors import DataError, InputError
from interpretability.evaluation.explainers import (
    AllOnesExplainer,
    RandomExplainer,
    load_trained_explainer,
)
from interpretability.evaluation.retraining import retrained_sanity
from interpretability.evaluation.sanity import cascading_randomisation
from interpretability.evaluation.tables import comparison_markdown, margins
from interpretability.interpreters.gradient import (
    BASELINES,
    MelDomainClassifier,
    gradient_explainers,
    mel_view,
)
from interpretability.metrics.stats import MetricCollector
from interpretability.results import atomic_write_json, atomic_write_text

logger = logging.getLogger(__name__)

CONDITIONS = (
    "in_domain",
    "other_class_mixture",
    "white_noise",
    "speech_mixture",
)
CONTROLS = ("all_ones", "random")
GRADIENT_SETTINGS = (
    "smoothgrad_samples",
    "smoothgrad_stdev",
    "ig_steps",
    "shap_samples",
    "shap_stdev",
    "internal_batch_size",
)


def other_class_partners(labels, generator):
    """For each clip, the index of another clip that shares none of its classes, drawn with ``generator``.

    ``labels``: a list of sets of class indices (one element for a multi-class clip). Raises DataError when a
    clip has no such partner.
    """
    partners = []
    for index, classes in enumerate(labels):
        candidates = [
            j
            for j, other in enumerate(labels)
            if j != index and not (classes & other)
        ]
        if not candidates:
            raise DataError(
                f"clip {index} of the evaluation set has no clip of another class to be mixed with "
                "(other_class_mixture needs at least two classes)"
            )
        partners.append(
            candidates[
                int(torch.randint(len(candidates), (1,), generator=generator))
            ]
        )
    return partners


def condition_input(
    condition, wavs, partner_wavs=None, speech=None, generator=None
):
    """The input ``[B, N]`` of a condition for the clean clips ``wavs`` ``[B, N]``."""
    if condition == "in_domain":
        return wavs
    if condition not in CONDITIONS:
        raise ValueError(
            f"unknown condition {condition!r}; known: {list(CONDITIONS)}"
        )
    return ood_mixture(
        wavs, condition, other=partner_wavs, speech=speech, generator=generator
    )


def build_explainers(
    classifier,
    trained=None,
    methods=BASELINES,
    mel_domain=False,
    gradient_settings=None,
    gradcam_layer=None,
    seed=0,
):
    """``{name: explainer}``: the gradient baselines (and their ``_mel`` variants), the trained interpreters
    ``trained`` (``{name: explainer}``, e.g. ``lmac``, ``lmac_ft``, ``l2i``) and the controls; ``random`` matches
    the mean of ``lmac``'s masks when it is there."""
    settings = dict(gradient_settings or {}, layer=gradcam_layer, seed=seed)
    explainers = dict(
        gradient_explainers(classifier, methods, "linear", **settings)
    )
    if mel_domain:
        explainers.update(
            gradient_explainers(classifier, methods, "mel", **settings)
        )
    explainers.update(trained or {})
    explainers["all_ones"] = AllOnesExplainer()
    explainers["random"] = RandomExplainer(
        reference=(trained or {}).get("lmac"), seed=seed
    )
    return explainers


def explain_and_score(classifier, view, explainers, mask_domain="linear"):
    """``{name: {metric: [R]}}`` of every explainer on one view (``_mel`` methods scored in the mel domain)."""
    scores = {}
    mel_model, mel_rows = None, None
    for name, explainer in explainers.items():
        mask = explainer.explain(view).detach()
        if getattr(explainer, "domain", "linear") == "mel":
            if mel_model is None:
                mel_model, mel_rows = (
                    MelDomainClassifier(classifier),
                    mel_view(view, classifier),
                )
            scores[name] = explanation_metrics(
                mel_model, mel_rows, mask, "linear"
            )
        else:
            scores[name] = explanation_metrics(
                classifier, view, mask, mask_domain
            )
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
    if (
        condition == "other_class_mixture"
        and batch.get("partner_targets") is not None
    ):
        partner_only = (batch["partner_targets"] > 0.5) & (
            batch["targets"] < 0.5
        )
        sources = sources + partner_only.unsqueeze(-1).to(wavs) * batch[
            "partner_wavs"
        ].unsqueeze(1)
    return sources


def batch_generator(seed, condition_index, batch_index):
    """The generator of a condition's random draws on one batch (white noise, speech crops), seeded from ``seed``,
    the condition and the batch's index: a batch draws the same whether it is computed first, after a resume, or by
    another process under torchrun."""
    return torch.Generator().manual_seed(
        (int(seed) * 1000003 + condition_index * 7919 + batch_index) % 2**63
    )


def compare(
    classifier,
    explainers,
    batches,
    conditions=CONDITIONS[:3],
    mask_domain="linear",
    speech_bank=None,
    seed=0,
    classes=None,
    show_progress=True,
    total=None,
    keep_rows=None,
    records=None,
):
    """Every explainer in every condition on the same clips.

    Arguments
    ---------
    classifier : the explained classifier (eval mode).
    explainers : ``{name: explainer}`` (see :func:`build_explainers`).
    batches : iterable of dicts with ``ids`` (list of str), ``wavs`` ``[B, N]``, optionally ``clean`` ``[B, N]``
        (the clean target; ``[B, C, N]``, each class's source, for a multi-label classifier), ``partner_wavs``
        ``[B, N]`` (clips of other classes, for ``other_class_mixture``), multi-label ``targets`` /
        ``partner_targets`` ``[B, C]`` (see :func:`mixture_target`) and ``index`` (the batch's position in the
        whole evaluation, which seeds its random draws; default its position in ``batches``).
    conditions : names from ``CONDITIONS``; ``speech_mixture`` needs ``speech_bank`` (a ContaminantBank).
    mask_domain : the masking domain of the linear-grid methods.
    classes : class names, for the ids of multi-label rows (``<clip>__<class>``).
    total : the number of batches, for the progress bar.
    keep_rows : how many in-domain rows to keep as views for the sanity check (None: all; memory then grows
        with the number of clips).
    records : a :class:`ComparisonRecords` (None: results kept in memory only): each (condition, batch) scored is
        appended to it, those it already holds are skipped (a resumed run), and the results are summarised from
        it. The batches of other processes may be there too (torchrun).

    Returns
    -------
    ``{condition: {method: {metric: mean over rows, ..., "FF_median", "n_rows"}}}``, and the first ``keep_rows``
    in-domain rows as ClipViews (for the sanity check) as a second value.
    """
    if "speech_mixture" in conditions and speech_bank is None:
        raise InputError(
            "the speech_mixture condition needs a folder of speech wavs (--speech_folder)"
        )
    collectors = {
        c: {name: MetricCollector() for name in explainers} for c in conditions
    }
    in_domain_views, kept = [], 0
    multilabel = bool(getattr(classifier, "multilabel", False))
    for position, batch in enumerate(
        tqdm(batches, desc="comparison", total=total, disable=not show_progress)
    ):
        index = int(batch.get("index", position))
        for condition_index, condition in enumerate(conditions):
            wanted = condition == "in_domain" and (
                keep_rows is None or kept < keep_rows
            )
            if (
                records is not None
                and (condition, index) in records
                and not wanted
            ):
                continue
            generator = batch_generator(seed, condition_index, index)
            speech = None
            if condition == "speech_mixture":
                speech = speech_bank.sample(
                    batch["wavs"].shape[0], generator
                ).to(batch["wavs"])
            wavs = condition_input(
                condition,
                batch["wavs"],
                batch.get("partner_wavs"),
                speech,
                generator,
            )
            view = ClipView(
                wavs, classifier, mixture_target(condition, batch, multilabel)
            )
            if wanted:
                in_domain_views.append(
                    view
                    if keep_rows is None
                    else first_rows(view, keep_rows - kept)
                )
                kept += len(in_domain_views[-1].decision)
            if records is not None and (condition, index) in records:
                continue
            ids = view.row_ids(batch["ids"], classes)
            scores = {
                name: {k: v.cpu() for k, v in metrics.items()}
                for name, metrics in explain_and_score(
                    classifier, view, explainers, mask_domain
                ).items()
            }
            if records is not None:
                records.append(condition, index, ids, scores)
            else:
                for name, metrics in scores.items():
                    collectors[condition][name].append(ids, metrics)
    if records is not None:
        collectors = records.collectors(conditions, explainers)
    return summarize_collectors(collectors), in_domain_views


def summarize_collectors(collectors):
    """``{condition: {method: summary + n_rows}}`` of ``{condition: {method: MetricCollector}}``."""
    results = {}
    for condition, by_method in collectors.items():
        results[condition] = {}
        for name, collector in by_method.items():
            summary = collector.summarize()
            summary["n_rows"] = len(collector.ids)
            results[condition][name] = summary
    return results


class ComparisonRecords:
    """The scores of each (condition, batch) of a comparison, appended as JSON lines to
    ``<folder>/comparison.partial[.rank<r>].jsonl`` as they are computed, so a killed comparison resumes where it
    stopped, and processes under torchrun each write theirs.

    ``config`` (what the scores depend on: clips, methods, conditions, seed, batch size, models) is written to
    ``<folder>/comparison.partial.json``; records of another configuration are discarded. A line cut short by a
    kill is dropped. :meth:`collectors` reads every process's records back, in batch order.
    """

    CONFIG = "comparison.partial.json"

    def __init__(self, folder, config, rank=0, world_size=1):
        self.folder, self.config = folder, _jsonable(config)
        self.rank, self.world_size = rank, world_size
        self.done = set()
        self._handle = None

    def open(self):
        """Check (main process) the saved configuration, then read which (condition, batch) are done. Every
        process calls it; under torchrun the main process checks first and the others wait (``_barrier``)."""
        config_path = os.path.join(self.folder, self.CONFIG)
        if self.rank == 0:
            saved = None
            if os.path.isfile(config_path):
                try:
                    with open(config_path, encoding="utf-8") as handle:
                        saved = json.load(handle)
                except (OSError, ValueError):
                    saved = None
            if saved != self.config:
                if saved is not None:
                    logger.warning(
                        "%s: partial comparison of other settings; starting over",
                        config_path,
                    )
                self.discard()
                atomic_write_json(config_path, self.config)
        _barrier()
        for path in self.paths():
            for record in self._read(path):
                self.done.add((record["condition"], record["batch"]))
        if self.done:
            logger.info(
                "Comparison resumed: %d (condition, batch) already scored",
                len(self.done),
            )
        return self

    def paths(self):
        return sorted(
            glob.glob(os.path.join(self.folder, "comparison.partial*.jsonl"))
        )

    def own_path(self):
        suffix = f".rank{self.rank}" if self.world_size > 1 else ""
        return os.path.join(self.folder, f"comparison.partial{suffix}.jsonl")

    def __contains__(self, key):
        return tuple(key) in self.done

    def append(self, condition, index, ids, scores):
        if self._handle is None:
            path = self.own_path()
            self._truncate_partial_line(path)
            self._handle = open(path, "a", encoding="utf-8")
        record = {
            "condition": condition,
            "batch": int(index),
            "ids": list(ids),
            "scores": {
                name: {
                    k: v.detach().to(torch.float64).reshape(-1).tolist()
                    for k, v in metrics.items()
                }
                for name, metrics in scores.items()
            },
        }
        self._handle.write(json.dumps(record) + "\n")
        self._handle.flush()
        self.done.add((condition, int(index)))

    def close(self):
        if self._handle is not None:
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None

    def collectors(self, conditions, methods):
        """``{condition: {method: MetricCollector}}`` of every record, in batch order (every process's)."""
        self.close()
        _barrier()
        records = [r for path in self.paths() for r in self._read(path)]
        records.sort(key=lambda r: (r["condition"], r["batch"]))
        collectors = {
            c: {name: MetricCollector() for name in methods} for c in conditions
        }
        seen = set()
        for record in records:
            key = (record["condition"], record["batch"])
            if record["condition"] not in collectors or key in seen:
                continue
            seen.add(key)
            for name, metrics in record["scores"].items():
                if name in collectors[record["condition"]]:
                    collectors[record["condition"]][name].append(
                        record["ids"], metrics
                    )
        return collectors

    def discard(self):
        """Delete the records (main process; after the final files are written, or for other settings)."""
        self.close()
        for path in self.paths():
            os.remove(path)
        config_path = os.path.join(self.folder, self.CONFIG)
        if os.path.isfile(config_path):
            os.remove(config_path)

    @staticmethod
    def _read(path):
        records = []
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if not line.endswith("\n"):
                    break  # cut short by a kill
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict) and {
                    "condition",
                    "batch",
                    "ids",
                    "scores",
                } <= set(record):
                    records.append(record)
        return records

    @staticmethod
    def _truncate_partial_line(path):
        """Drop a last line a kill cut short, so the next record starts on a line of its own."""
        if not os.path.isfile(path):
            return
        with open(path, "rb+") as handle:
            data = handle.read()
            if data and not data.endswith(b"\n"):
                handle.truncate(data.rfind(b"\n") + 1)


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def _world():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _barrier():
    if _world()[1] > 1:
        torch.distributed.barrier()


def fingerprint(module):
    """A short hash of a module's parameters and buffers (which trained model a cached result belongs to)."""
    digest = hashlib.sha1()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode("utf-8"))
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


# ---- the evaluate.py recipes -------------------------------------------------------------------------------


def _evaluation_clips(dataset, multilabel, max_clips, seed):
    """Indices of the evaluated clips (all, or a seeded random subset of ``max_clips`` in manifest order) and
    every clip's set of classes."""
    keys = ["id", "target_vector"] if multilabel else ["id", "class_id"]
    with dataset.output_keys_as(keys):
        labels = []
        for item in dataset:
            if multilabel:
                labels.append(
                    set(
                        torch.nonzero(item["target_vector"] > 0.5)
                        .flatten()
                        .tolist()
                    )
                )
            else:
                labels.append({int(item["class_id"].reshape(-1)[0])})
    indices = list(range(len(labels)))
    if max_clips and max_clips < len(indices):
        generator = torch.Generator().manual_seed(seed)
        indices = sorted(
            torch.randperm(len(indices), generator=generator)[
                : int(max_clips)
            ].tolist()
        )
    return indices, labels


def clip_batches(
    dataset, indices, partners, batch_size, device="cpu", batch_numbers=None
):
    """Yield the batches :func:`compare` reads, from a DynamicItemDataset of fixed-length clips (only the batches
    ``batch_numbers`` when given: a process's share under torchrun)."""
    starts = range(0, len(indices), batch_size)
    for number in (
        range(len(starts)) if batch_numbers is None else batch_numbers
    ):
        start = starts[number]
        chosen = indices[start : start + batch_size]
        items = [dataset[i] for i in chosen]
        batch = {
            "ids": [item["id"] for item in items],
            "index": number,
            "wavs": torch.stack([item["sig"] for item in items]).to(device),
        }
        for key in (
            "clean_class_sig",
            "clean_sig",
        ):  # each class's source (multi-label) or the target event
            if all(key in item for item in items):
                batch["clean"] = torch.stack([item[key] for item in items]).to(
                    device
                )
                break
        if all("target_vector" in item for item in items):
            batch["targets"] = torch.stack(
                [item["target_vector"] for item in items]
            ).to(device)
        if partners is not None:
            keys = ["sig", "target_vector"] if "targets" in batch else ["sig"]
            with dataset.output_keys_as(keys):
                partner_items = [dataset[partners[i]] for i in chosen]
            batch["partner_wavs"] = torch.stack(
                [item["sig"] for item in partner_items]
            ).to(device)
            if "targets" in batch:
                batch["partner_targets"] = torch.stack(
                    [item["target_vector"] for item in partner_items]
                ).to(device)
        yield batch


def run_comparison(hparams, manifests, run_opts=None):
    """The ``evaluate.py`` recipes: compare every method on the test split and write the result files.

    hparams: ``pretrained_classifier``, ``pretrained_interpreter`` (L-MAC), ``pretrained_lmac_ft``,
    ``pretrained_l2i`` (each optional but the classifier), ``methods`` (gradient baselines),
    ``mel_domain_baselines``, the gradient settings (``smoothgrad_samples``, ``smoothgrad_stdev``, ``ig_steps``,
    ``shap_samples``, ``shap_stdev``, ``internal_batch_size``, ``gradcam_layer``), ``conditions``,
    ``speech_folder``, ``mask_domain`` (null: the L-MAC interpreter's), ``clip_seconds``, ``batch_size``,
    ``max_clips``, ``sanity_clips``, ``sanity_steps``, ``sanity_retrain``, ``data_randomisation_classifier``
    (an exported classifier trained on shuffled labels; null: the sanity check trains one), ``seed``,
    ``output_folder``. ``run_opts["precision"]``
    (``--precision``) is the training precision of the sanity check's retrainings; every score is computed in fp32.

    Returns ``{condition: {method: {metric: value}}, "sanity": {method: {...}}}`` (None on the other processes
    under torchrun).
    """
    from interpretability.brains.training import load_explained_classifier
    from interpretability.data.pipelines import classification_datasets

    device = (run_opts or {}).get("device", "cpu")
    classifier, classifier_source = load_explained_classifier(
        hparams, manifests
    )
    classifier = classifier.to(device).eval().requires_grad_(False)

    trained, domains = {}, {}
    for name, key in (
        ("lmac", "pretrained_interpreter"),
        ("lmac_ft", "pretrained_lmac_ft"),
        ("l2i", "pretrained_l2i"),
    ):
        if hparams.get(key):
            explainer, method, domain = load_trained_explainer(
                hparams[key], classifier, classifier_source, device
            )
            if (name == "l2i") != (method == "l2i") or method not in (
                "lmac",
                "lmac_ft",
                "l2i",
            ):
                raise InputError(
                    f"{hparams[key]}: --{key} expects a {'L2I' if name == 'l2i' else 'L-MAC'} "
                    f"interpreter, this one is {method!r}"
                )
            trained[name], domains[name] = explainer, domain
    mask_domain = (
        hparams.get("mask_domain")
        or domains.get("lmac")
        or next(iter(domains.values()), "linear")
    )
    mismatched = {
        name: domain
        for name, domain in domains.items()
        if domain != mask_domain
    }
    if mismatched:
        raise InputError(
            f"interpreters trained with another mask domain than {mask_domain!r}: {mismatched}; "
            "compare interpreters of one domain"
        )

    conditions = [
        c
        for c in hparams.get("conditions", CONDITIONS)
        if c != "speech_mixture" or hparams.get("speech_folder")
    ]
    speech_bank = None
    if "speech_mixture" in conditions:
        speech_bank = ContaminantBank(
            hparams["speech_folder"],
            int(round(hparams["clip_seconds"] * 16000)),
            seed=hparams.get("seed", 0),
        )
    settings = {
        key: hparams[key]
        for key in GRADIENT_SETTINGS
        if hparams.get(key) is not None
    }
    explainers = build_explainers(
        classifier,
        trained,
        hparams.get("methods", BASELINES),
        hparams.get("mel_domain_baselines", False),
        settings,
        hparams.get("gradcam_layer"),
        seed=hparams.get("seed", 0),
    )

    dataset = classification_datasets(
        manifests, hparams["clip_seconds"], multilabel=classifier.multilabel
    )["test"]
    seed = int(hparams.get("seed", 0))
    indices, labels = _evaluation_clips(
        dataset, classifier.multilabel, hparams.get("max_clips"), seed
    )
    partners = None
    if "other_class_mixture" in conditions:
        partners = other_class_partners(
            labels, torch.Generator().manual_seed(seed)
        )
    logger.info(
        "Comparing %d methods on %d clips in %s",
        len(explainers),
        len(indices),
        conditions,
    )
    batch_size = int(hparams.get("batch_size", 8))
    n_batches = -(-len(indices) // batch_size)
    rank, world_size = _world()
    mine = _block(n_batches, rank, world_size)
    folder = hparams["output_folder"]
    config = dict(
        ids=[dataset.data_ids[i] for i in indices],
        conditions=conditions,
        methods=list(explainers),
        seed=seed,
        batch_size=batch_size,
        mask_domain=mask_domain,
        settings=settings,
        gradcam_layer=hparams.get("gradcam_layer"),
        classifier=fingerprint(classifier),
        trained={
            name: fingerprint(e.interpreter) for name, e in trained.items()
        },
        speech_folder=hparams.get("speech_folder"),
        clip_seconds=hparams["clip_seconds"],
    )
    records = ComparisonRecords(folder, config, rank, world_size).open()
    batches = clip_batches(
        dataset, indices, partners, batch_size, device, batch_numbers=mine
    )
    results, _ = compare(
        classifier,
        explainers,
        batches,
        conditions,
        mask_domain,
        speech_bank,
        seed,
        classes=manifests["classes"],
        total=len(mine),
        keep_rows=0,
        records=records,
        show_progress=rank == 0,
    )
    if rank != 0:
        return None  # the main process runs the sanity checks and writes the results

    sanity_clips = int(hparams.get("sanity_clips", 0) or 0)
    if sanity_clips > 0:
        kept = sanity_views(
            classifier,
            clip_batches(dataset, indices, None, batch_size, device),
            sanity_clips,
        )
        checked = {
            name: e
            for name, e in explainers.items()
            if not getattr(e, "constant", False)
        }
        sanity_folder = os.path.join(folder, "sanity")
        results["sanity"] = cached_json(
            os.path.join(sanity_folder, "cascading.json"),
            dict(
                config,
                sanity_clips=sanity_clips,
                steps=hparams.get("sanity_steps"),
            ),
            lambda: cascading_randomisation(
                classifier, checked, kept, hparams.get("sanity_steps"), seed
            ),
        )
        if hparams.get("sanity_retrain", False):
            retrained = {
                name: (
                    explainer.description.get("method", name),
                    explainer.description,
                    explainer.interpreter,
                    explainer.mask_domain,
                )
                for name, explainer in trained.items()
                if name in ("lmac", "l2i")
            }
            checked = {
                name: e
                for name, e in checked.items()
                if name in retrained or hasattr(e, "with_classifier")
            }
            shuffled = None
            if hparams.get("data_randomisation_classifier"):
                from interpretability.classifiers.io import load_classifier

                shuffled = load_classifier(
                    hparams["data_randomisation_classifier"], device=device
                )[0]
            results["sanity_retrained"] = retrained_sanity(
                classifier,
                checked,
                retrained,
                kept,
                manifests,
                hparams["clip_seconds"],
                sanity_folder,
                epochs=hparams.get("sanity_retrain_epochs"),
                classifier_epochs=int(
                    hparams.get("sanity_classifier_epochs", 20)
                ),
                max_clips=hparams.get("sanity_retrain_clips"),
                seed=seed,
                device=device,
                precision=(run_opts or {}).get("precision") or "fp32",
                shuffled=shuffled,
                shuffled_source=hparams.get("data_randomisation_classifier"),
            )

    folder = hparams["output_folder"]
    atomic_write_json(os.path.join(folder, "comparison.json"), results)
    notes = dict(
        settings,
        clips=len(indices),
        mask_domain=mask_domain,
        processes=world_size,
        ground_truth="the clean event where known (synthetic set), else in the mixtures the clip before mixing",
        gradcam_layer=hparams.get("gradcam_layer")
        or classifier.interpretable_layers[-1],
    )
    atomic_write_text(
        os.path.join(folder, "comparison.md"),
        comparison_markdown(results, notes),
    )
    if trained:
        atomic_write_json(
            os.path.join(folder, "margins.json"),
            margins(results, baselines=hparams.get("methods", BASELINES)),
        )
    records.discard()
    logger.info(
        "Comparison written to %s", os.path.join(folder, "comparison.json")
    )
    return results


def _block(n, rank, world_size):
    """This process's contiguous block of ``range(n)`` (blocks in rank order give ``range(n)``)."""
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (1 if rank < extra else 0))


def sanity_views(classifier, batches, n_rows):
    """ClipViews of the first ``n_rows`` in-domain rows of ``batches`` (only the batches they need are read)."""
    views, kept = [], 0
    for batch in batches:
        if kept >= n_rows:
            break
        view = first_rows(
            ClipView(
                batch["wavs"],
                classifier,
                mixture_target(
                    "in_domain", batch, getattr(classifier, "multilabel", False)
                ),
            ),
            n_rows - kept,
        )
        views.append(view)
        kept += len(view.decision)
    return views


def cached_json(path, key, compute):
    """``compute()``, or the result a previous run saved to ``path`` with the same ``key`` (a killed comparison
    does not redo a finished sanity check)."""
    key = _jsonable(key)
    if os.path.isfile(path):
        try:
            with open(path, encoding="utf-8") as handle:
                saved = json.load(handle)
            if saved.get("key") == key:
                logger.info("%s: finished in an earlier run, reused", path)
                return saved["result"]
        except (OSError, ValueError, AttributeError):
            pass
    result = compute()
    atomic_write_json(path, {"key": key, "result": result})
    return result


def first_rows(view, n):
    """A view of the first ``n`` rows of ``view``."""
    if len(view.decision) <= n:
        return view
    part = copy.copy(view)
    for name in (
        "wavs",
        "magnitude",
        "phase",
        "logits",
        "probs",
        "decision",
        "row_clip",
        "clean",
    ):
        value = getattr(view, name)
        setattr(part, name, value[:n] if value is not None else None)
    part.hidden = {k: v[:n] for k, v in view.hidden.items()}
    part._clean_magnitude = None
    return part
