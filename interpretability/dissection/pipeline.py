"""The AND pipeline as resumable stages over one output folder (docs/methods.md, "AND").

Every stage writes its result file atomically and is skipped when that file is already there, so a run that is
killed and started again redoes no finished work. Stages that call a model once per clip or per neuron
(captions, summaries, ICL answers, pruning runs) append each result to ``<stage>.partial.jsonl`` and resume from
it. Stage files in ``output_folder``:

==============================  ===========================================================================
``probing.json``                the probing clips (ids, labels), layers and pooling; a rerun must match it
``activations.pt``              ``{layer: [N_clips, N_neurons]}``; under torchrun each rank writes
                                ``activations.rank<r>.pt`` for its block of clips and rank 0 merges them
``descriptions.json``           one caption per clip, in activation row order (sharded like the activations)
``top_k.json``                  per neuron the K highest / lowest activated clips (row indices)
``closed_db.pt``                Module A, DB scores ``{layer: [N_neurons, N_concepts]}``
``clap_embeddings.pt``,         Module A, TAB (only with an audio-text encoder)
``closed_tab.pt``
``summaries.json``              Module B: highly / lowly summaries and the calibrated summary per neuron
``closed_icl.json``             Module A, ICL: the concept the summariser / LLM picks per neuron
``open_concepts.json``          Module C: open-vocabulary concepts of the calibrated summaries
``closed_label.pt``             label-based dissection: IoU of each neuron's top-K clips with each label concept
``captioner_agreement.json``    the held-out clips' descriptions and how often DB's matching gives their label
``pruning.json``                concept-specific pruning per strategy and target, with a random control, on the
                                probing clips and on the held-out clips
``uninterpretable.json``,       analysis: share of uninterpretable neurons per layer
``uninterpretable.png``
==============================  ===========================================================================

Assembled from them on every run: ``neurons_<layer>.json`` (everything known about each neuron) and
``test_metrics.json``. To redo a stage, delete its file and the files of the stages after it.

The stages live in :mod:`interpretability.dissection.stages` (one module per stage, each a mixin of
:class:`Dissection` over :class:`~.stages.base.StageBase`); the options, probing set and backends in
:mod:`.options`, :mod:`.probing` and :mod:`.backends`. Imports go one way: those modules never import this one.
"""

import logging
import os

from interpretability.dissection.agreement import (
    acoustic_captioner_warning,
    is_synthetic_data,
)
from interpretability.dissection.backends import (  # noqa: F401 - re-exported
    Backends,
    CachedTextEncoder,
)
from interpretability.dissection.options import (  # noqa: F401 - re-exported
    OPTIONAL_STAGES,
    DissectionOptions,
)
from interpretability.dissection.probing import ProbingSet
from interpretability.dissection.stages.agreement import AgreementStage
from interpretability.dissection.stages.analysis import AnalysisStage
from interpretability.dissection.stages.assembly import AssemblyStage
from interpretability.dissection.stages.base import (  # noqa: F401 - re-exported
    PartialRecords,
    _distributed,
    _plain,
    layer_file_name,
)
from interpretability.dissection.stages.capture import CaptureStages
from interpretability.dissection.stages.closed import ClosedConceptStages
from interpretability.dissection.stages.describe import DescriptionStage
from interpretability.dissection.stages.label_based import LabelStage
from interpretability.dissection.stages.pruning import (  # noqa: F401 - re-exported
    PruningStage,
    confidence_changes,
)
from interpretability.dissection.stages.summaries import (  # noqa: F401 - re-exported
    EXTRACTIVE_CALIBRATION_THRESHOLD,
    LLM_CALIBRATION_THRESHOLD,
    SummaryStages,
)
from interpretability.dissection.summarizers import normalize_phrase
from interpretability.errors import InputError
from interpretability.results import write_stage_metrics
from interpretability.spectral import (
    magnitude_phase,  # noqa: F401 - re-exported
)

logger = logging.getLogger(__name__)


class Dissection(
    CaptureStages,
    DescriptionStage,
    ClosedConceptStages,
    SummaryStages,
    LabelStage,
    AgreementStage,
    PruningStage,
    AnalysisStage,
    AssemblyStage,
):
    """AND over a model and a probing set, writing its stages to ``output_folder``.

    Arguments
    ---------
    model : nn.Module
        Maps a magnitude spectrogram ``[B, T, F]`` to logits ``[B, C]`` (``SpectrogramClassifier``,
        ``ASTClassifier``); set to eval mode here. ``model.multilabel`` picks sigmoid confidences.
    probing : ProbingSet
    output_folder : str
    options : DissectionOptions
    backends : Backends or None
    output_classes : list[str] or None
        Class name of each model output (the probing classes when None).
    device : str or None
    cache_bytes : int or None
        Magnitude spectrograms of the probing clips are kept in memory up to this size (pruning reads every clip
        once per ablation); None: ``options.cache_mb``. The waveforms are not kept (each is read again when its
        spectrogram is not cached).
    heldout : ProbingSet or None
        Clips that are not probing clips (e.g. the validation split): pruning's effect and the captioner's
        agreement with the labels are also measured on them.
    synthetic : bool or None
        Whether the data is the synthetic set (None: every class is a synthetic class); with the acoustic
        captioner on other data a warning says which backends DB / TAB / ICL need.
    """

    def __init__(
        self,
        model,
        probing,
        output_folder,
        options,
        backends=None,
        output_classes=None,
        device=None,
        cache_bytes=None,
        heldout=None,
        synthetic=None,
    ):
        self.model = model.eval()
        self.probing = probing
        self.folder = output_folder
        self.options = options
        self.backends = backends or Backends()
        self.device = device
        self.output_classes = list(output_classes or probing.classes)
        self.concepts = list(options.concepts or probing.classes)
        if not self.concepts:
            raise InputError("empty concept set")
        self.multilabel = bool(getattr(model, "multilabel", probing.multilabel))
        os.makedirs(output_folder, exist_ok=True)
        self.rank, self.world_size = _distributed()
        self.cache_bytes = int(
            options.cache_mb * 2**20 if cache_bytes is None else cache_bytes
        )
        for clips in (
            probing,
            heldout,
        ):  # the spectrogram cache is the one that saves work; one copy is enough
            if clips is not None and hasattr(clips, "cache_bytes"):
                clips.cache_bytes = 0
        self._magnitudes, self._magnitude_bytes = {}, 0
        self._intact = {}
        self._resume_cache = {}  # (module, clip set) -> intact activations there, for ablated forwards
        self.heldout = heldout
        if heldout is not None:
            if set(heldout.ids) & set(probing.ids):
                raise InputError(
                    "the held-out clips include probing clips: "
                    f"{sorted(set(heldout.ids) & set(probing.ids))[:3]}"
                )
            if [normalize_phrase(c) for c in heldout.classes] != [
                normalize_phrase(c) for c in probing.classes
            ]:
                raise InputError(
                    "the held-out clips have other classes than the probing clips"
                )
        self.synthetic = (
            is_synthetic_data(probing.classes)
            if synthetic is None
            else bool(synthetic)
        )

    # ---------------------------------------------------------------------------------- run
    def run(self):
        """Run (or resume) every stage; returns the metrics written to ``test_metrics.json`` (None on ranks > 0)."""
        self.check_probing()
        activations = self.activations()
        with_descriptions = "descriptions" not in self.options.skip
        if (
            with_descriptions
            and self.rank == 0
            and not self.synthetic
            and self.backends.captioner_is_acoustic
        ):
            logger.warning(
                "%s", acoustic_captioner_warning(self.probing.classes)
            )
        descriptions = self.descriptions() if with_descriptions else None
        if self.rank != 0:
            return None
        widths = activations.widths()
        top = self.top_k(activations)
        db = self.closed_db(descriptions, top)
        tab = self.closed_tab(activations)
        summaries = self.summaries(descriptions, top, widths)
        icl = self.closed_icl(summaries, descriptions, top)
        open_concepts = self.open_concepts(summaries)
        label = self.closed_label(top)
        agreement = self.captioner_agreement()
        pruning = self.pruning(
            widths,
            db,
            tab,
            open_concepts,
            label["ranked"] if label is not None else None,
        )
        analysis = self.analysis(descriptions, top)

        closed = {"DB": db, "TAB": tab, "ICL": icl}
        self.write_neuron_files(
            activations,
            descriptions,
            top,
            closed,
            summaries,
            open_concepts,
            analysis,
            label,
        )
        top1, top5 = self.last_layer_accuracy(widths, closed)
        selectivity = self.output_selectivity(top, widths)
        if selectivity is not None:
            top1["selectivity"] = selectivity
        metrics = {
            "n_clips": len(activations.ids),
            "layers": widths,
            "concepts": len(self.concepts),
            "last_layer_top1": top1,
            "last_layer_top5": top5,
        }
        if self.heldout is not None:
            metrics["n_heldout_clips"] = len(self.heldout)
        if agreement is not None:
            metrics["captioner_agreement_heldout"] = agreement["agreement"]
        by_strategy = {
            s: self.pruning_summary(r) for s, r in (pruning or {}).items()
        }
        described = [
            s
            for s in self.options.pruning_strategies
            if s in by_strategy and s != "label"
        ]
        primary = (
            described
            or [s for s in self.options.pruning_strategies if s in by_strategy]
            or [None]
        )[0]
        if primary is not None:
            metrics["pruning"] = {
                "strategy": primary,
                **by_strategy[primary][0],
            }
            metrics["pruning_per_target"] = by_strategy[primary][1]
            metrics["pruning_by_strategy"] = {
                s: summary for s, (summary, _) in by_strategy.items()
            }
        if analysis is not None:
            shares = analysis["shares"]
            metrics["uninterpretable"] = shares[next(iter(shares))]
            metrics["uninterpretable_by_tau"] = shares
        if label is not None:
            metrics["label_based"] = self.label_metrics(label, top, widths)
            if "label" in by_strategy:
                metrics["label_based"]["pruning"] = {
                    "strategy": "label",
                    **by_strategy["label"][0],
                }
        write_stage_metrics(self.folder, "test", _plain(metrics))
        logger.info(
            "AND: last-layer top-1 %s, pruning %s", top1, metrics.get("pruning")
        )
        return metrics


# ------------------------------------------------------------------------------------------ recipes
def load_dissected_model(hparams, manifests, device="cpu"):
    """The model a recipe dissects and the class name of each of its outputs.

    ``ast_config`` given (ASTConfig arguments, or the name of the hparams entry holding them): a randomly initialised
    AST over the data's classes (tests); ``architecture: ast``:
    ``--pretrained_classifier`` is an AST by local folder or hub id (or an exported classifier folder); otherwise
    the exported classifier of ``train_classifier.py``, checked against the data's classes.
    """
    from interpretability.brains.training import load_explained_classifier
    from interpretability.classifiers.ast import (
        build_ast_classifier,
        is_exported_classifier,
        load_ast_classifier,
    )

    classes = list(manifests["classes"])
    source = hparams.get("pretrained_classifier")
    ast_config = hparams.get("ast_config")
    if isinstance(
        ast_config, str
    ):  # the name of another hparams entry holding the ASTConfig arguments
        if not isinstance(hparams.get(ast_config), dict):
            raise InputError(
                f"ast_config names {ast_config!r}, which is no mapping of ASTConfig arguments in the "
                "hparams"
            )
        ast_config = hparams[ast_config]
    if ast_config:
        logger.warning(
            "dissecting a randomly initialised AST built from ast_config (a test set-up)"
        )
        model = build_ast_classifier(
            len(classes),
            n_mels=hparams.get("n_mels", 128),
            multilabel=hparams.get("multilabel", False),
            ast_config=ast_config,
            classes=classes,
            seed=hparams.get("seed", 0),
        )
        return model.to(device).eval(), classes
    if (
        hparams.get("architecture") == "ast"
        and source
        and not (
            is_exported_classifier(source)
            or is_exported_classifier(os.path.join(source, "classifier"))
        )
    ):
        model = load_ast_classifier(
            source, multilabel=hparams.get("ast_multilabel"), device=device
        )
        return model, model.classes
    model, _ = load_explained_classifier(hparams, manifests)
    return model.to(device).eval(), classes


def default_layers(model, output_layer="head"):
    """Every transformer block of an AST, or the interpretable layers of a ``SpectrogramClassifier``, then the
    output layer."""
    if hasattr(model, "block_paths"):
        hidden = model.block_paths()
    else:
        hidden = [f"encoder.{name}" for name in model.interpretable_layers]
    return hidden + [output_layer]


def options_from_hparams(hparams, progress=True):
    """:class:`DissectionOptions` from recipe hparams of the same names (``top_k`` is ``k``; ``skip_stages`` is
    ``skip``, a name SpeechBrain's command line would take for its own ``--skip_nonfinite_grads``)."""
    names = {
        f
        for f in DissectionOptions.__dataclass_fields__
        if f not in ("k", "progress")
    }
    kwargs = {
        name: hparams[name] for name in names if hparams.get(name) is not None
    }
    if hparams.get("top_k") is not None:
        kwargs["k"] = int(hparams["top_k"])
    if hparams.get("skip_stages") is not None:
        kwargs["skip"] = tuple(kwargs.get("skip", ())) + tuple(
            hparams["skip_stages"]
        )
    for name in ("pruning_strategies", "skip", "icl_examples"):
        if name in kwargs:
            kwargs[name] = tuple(kwargs[name])
    if "pruning_targets" in hparams and hparams["pruning_targets"] is not None:
        kwargs["pruning_targets"] = list(hparams["pruning_targets"])
    kwargs["progress"] = bool(progress)
    return DissectionOptions(**kwargs)


def run_dissection(hparams, run_opts, manifests):
    """The ``dissect_and.py`` recipe of every dataset: load the model and the probing clips, run (or resume) AND.

    hparams: the :class:`DissectionOptions` fields (``layers`` null: :func:`default_layers`),
    ``pretrained_classifier`` / ``architecture`` / ``ast_config`` / ``ast_multilabel`` (see
    :func:`load_dissected_model`), ``probing_splits`` (default ``[test]``), ``max_clips``, ``heldout_splits``
    (clips for held-out pruning and the captioner agreement; null: ``valid``, or ``train`` when ``valid`` is
    probed; ``[]``: none), ``max_heldout_clips`` (a seeded random subset, default 200), ``clip_seconds``,
    ``multilabel`` (the data's labels), ``seed`` and the backends ``captioner``, ``summarizer``, ``text_encoder``,
    ``audio_text_encoder``, ``pos_tagger`` (instances or ``!name:`` factories; see :class:`Backends`),
    ``spacy_model``. Returns the metrics (None on ranks > 0).
    """
    from interpretability.data.pipelines import classification_datasets

    def run_option(name, default=None):
        value = (
            run_opts.get(name)
            if isinstance(run_opts, dict)
            else getattr(run_opts, name, None)
        )
        return default if value is None else value

    device = run_option("device", "cpu")
    model, output_classes = load_dissected_model(hparams, manifests, device)
    multilabel = bool(
        hparams.get("multilabel", getattr(model, "multilabel", False))
    )  # the data's labels
    splits = list(hparams.get("probing_splits") or ["test"])
    unknown = [s for s in splits if s not in manifests]
    if unknown:
        prepared = [s for s in ("train", "valid", "test") if s in manifests]
        raise InputError(
            f"probing splits {unknown} are not prepared; the data has {prepared}"
        )
    datasets = classification_datasets(
        {s: manifests[s] for s in splits},
        hparams["clip_seconds"],
        multilabel=multilabel,
        with_clean=False,
    )
    probing = ProbingSet.from_datasets(
        [datasets[s] for s in splits],
        manifests["classes"],
        multilabel=multilabel,
        max_clips=hparams.get("max_clips"),
        seed=hparams.get("seed", 0),
    )
    heldout_splits = heldout_splits_of(
        hparams.get("heldout_splits"), splits, manifests
    )
    heldout = None
    if heldout_splits:
        held = classification_datasets(
            {s: manifests[s] for s in heldout_splits},
            hparams["clip_seconds"],
            multilabel=multilabel,
            with_clean=False,
        )
        heldout = ProbingSet.from_datasets(
            [held[s] for s in heldout_splits],
            manifests["classes"],
            multilabel=multilabel,
            max_clips=hparams.get("max_heldout_clips", 200),
            seed=hparams.get("seed", 0),
            what="held-out",
        )
    backends = Backends(
        captioner=hparams.get("captioner"),
        summarizer=hparams.get("summarizer"),
        text_encoder=hparams.get("text_encoder"),
        audio_text_encoder=hparams.get("audio_text_encoder"),
        pos_tagger=hparams.get("pos_tagger"),
        spacy_model=hparams.get("spacy_model"),
    )
    if not hparams.get("layers"):
        hparams["layers"] = default_layers(
            model, hparams.get("output_layer") or "head"
        )
    options = options_from_hparams(
        hparams, progress=not run_option("noprogressbar", False)
    )
    logger.info(
        "AND: %d probing clips from %s, %d held-out clips from %s, layers %s",
        len(probing),
        splits,
        len(heldout) if heldout is not None else 0,
        heldout_splits,
        options.layers,
    )
    dissection = Dissection(
        model,
        probing,
        hparams["output_folder"],
        options,
        backends,
        output_classes=output_classes,
        device=device,
        heldout=heldout,
        synthetic=is_synthetic_data(
            manifests["classes"], hparams.get("data_folder")
        ),
    )
    return dissection.run()


def heldout_splits_of(given, probing_splits, manifests):
    """The held-out splits: ``given``, or (None) ``valid``, or ``train`` when ``valid`` is probed; never a probing
    split."""
    if given is None:
        given = [
            next(
                (
                    s
                    for s in ("valid", "train")
                    if s in manifests and s not in probing_splits
                ),
                None,
            )
        ]
        given = [s for s in given if s is not None]
    given = [given] if isinstance(given, str) else list(given)
    probed = sorted(set(given) & set(probing_splits))
    if probed:
        raise InputError(
            f"held-out splits {probed} are probing splits too: held-out clips must not be probed"
        )
    unknown = [s for s in given if s not in manifests]
    if unknown:
        prepared = [s for s in ("train", "valid", "test") if s in manifests]
        raise InputError(
            f"held-out splits {unknown} are not prepared; the data has {prepared}"
        )
    return given
