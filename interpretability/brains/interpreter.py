"""The evaluation every interpreter shares (docs/methods.md, "Faithfulness and structure metrics", "ground truth").

An :class:`InterpreterBrain` holds a frozen classifier and a method that turns a clip into a mask on the linear
STFT grid. On the valid / test stages it computes, on one code path for every method: AI, AD, AG, FF (mean and
median), Fid-In, SPS, COMP, MM and, where the clean target is known, SI-SDR of the listenable explanation and of
the input against it and the mask's precision / recall / IoU against the oracle mask (area-matched, and at a 0.5
threshold as a secondary figure). The test stage writes
``<output_folder>/test_metrics.json`` and exports listenable explanations.
"""

import logging
import os

import torch

import speechbrain as sb
from interpretability.audio import write_audio
from interpretability.brains.classifier import batch_tensor, stop_on_plateau
from interpretability.brains.distributed import CPUDistributedMixin
from interpretability.brains.resume import ResumableMixin
from interpretability.classifiers.base import count_parameters
from interpretability.errors import InputError
from interpretability.interpreters.lmac import masked_logits as masked_pair
from interpretability.metrics.faithfulness import (
    faithfulness_metrics,
    faithfulness_metrics_from_scores,
)
from interpretability.metrics.ground_truth import oracle_overlap, si_sdr
from interpretability.metrics.stats import MetricCollector
from interpretability.metrics.structure import structure_metrics
from interpretability.report.figures import save_explanation_figure
from interpretability.results import write_stage_metrics
from interpretability.spectral import listenable, magnitude_phase
from speechbrain.utils.distributed import if_main_process

logger = logging.getLogger(__name__)


class ClipView:
    """One batch as every method sees it, as rows of (clip, explained class).

    Holds waveforms ``wavs`` ``[R, N]``, ``magnitude`` and ``phase`` ``[R, T, F]``, the classifier's ``logits``,
    ``probs``, ``hidden`` representations and the explained class ``decision`` ``[R]``, and the clean target
    ``clean`` ``[R, N]`` when known. For a multi-class classifier a row is a clip and its decision the argmax. For
    a multi-label one there is a row per (clip, class the classifier marks present) (the top class when none
    is), ``row_clip`` giving each row's clip; each row's clean target is its class's own source, so ``clean``
    must then be given per class, ``[B, C, N]`` (a class absent from the clip has a silent source, and the
    ground-truth metrics of its rows are undefined); a clip-level ``[B, N]`` clean target (all of a clip's
    events) is not the explained class's source and is dropped.
    """

    def __init__(self, wavs, classifier, clean=None, threshold=0.5):
        magnitude, phase = magnitude_phase(wavs)
        with torch.no_grad():
            logits, hidden = classifier.forward_with_hidden(magnitude)
        self.multilabel = bool(getattr(classifier, "multilabel", False))
        if self.multilabel:
            present = classifier.probabilities(logits) >= threshold
            none = ~present.any(dim=1)
            present[none, logits[none].argmax(dim=1)] = True
            self.row_clip, self.decision = present.nonzero(as_tuple=True)
            index = self.row_clip
            wavs, magnitude, phase, logits = (
                wavs[index],
                magnitude[index],
                phase[index],
                logits[index],
            )
            hidden = {name: h[index] for name, h in hidden.items()}
            clean = (
                clean[index, self.decision]
                if clean is not None and clean.dim() == 3
                else None
            )
        else:
            self.decision = logits.argmax(dim=-1)
            self.row_clip = torch.arange(wavs.shape[0], device=wavs.device)
        self.wavs, self.magnitude, self.phase = wavs, magnitude, phase
        self.logits, self.hidden = logits, hidden
        self.probs = classifier.probabilities(logits)
        self.clean = clean
        self._clean_magnitude = None

    @property
    def n_frames(self):
        return self.magnitude.shape[1]

    @property
    def clean_magnitude(self):
        if self.clean is None:
            return None
        if self._clean_magnitude is None:
            self._clean_magnitude = magnitude_phase(self.clean)[0]
        return self._clean_magnitude

    def row_ids(self, clip_ids, classes=None):
        """Ids of the rows: the clip id, or ``<clip id>__<class>`` for multi-label rows."""
        ids = [clip_ids[int(i)] for i in self.row_clip]
        if not self.multilabel:
            return ids
        names = [
            classes[int(c)] if classes else str(int(c)) for c in self.decision
        ]
        return [f"{clip}__{name}" for clip, name in zip(ids, names)]


def explanation_metrics(
    classifier, view, mask, domain="linear", masked_logits=None
):
    """Every per-row metric of ``mask`` ``[R, T, F]`` for the explained class of each row of ``view``.

    Multi-label rows are scored on the class's sigmoid score (Fid-In: the masked-in score stays >= 0.5).
    Returns ``{name: Tensor[R]}``: AI, AD, AG, FF, FidIn, SPS, COMP, MM and, with a clean target, SISDR,
    SISDR_input, SISDR_gain, and precision, recall, IoU against the oracle mask (area-matched; the same at a 0.5
    threshold as ``*_at_0.5``). ``masked_logits``: the classifier's ``(in, out)`` logits on the masked-in and
    masked-out input when already computed (:func:`~interpretability.interpreters.lmac.masked_logits`).
    """
    mask = mask.detach()
    if masked_logits is None:
        with torch.no_grad():
            masked_logits = masked_pair(
                classifier, view.magnitude, mask, domain
            )
    p_in, p_out = (
        classifier.probabilities(logits.detach()) for logits in masked_logits
    )
    if view.multilabel:
        rows = torch.arange(len(view.decision), device=mask.device)
        metrics = faithfulness_metrics_from_scores(
            view.probs[rows, view.decision],
            p_in[rows, view.decision],
            p_out[rows, view.decision],
        )
    else:
        metrics = faithfulness_metrics(view.probs, p_in, p_out, view.decision)
    metrics.update(structure_metrics(mask))
    if view.clean is not None:
        explanation = listenable(
            view.magnitude, view.phase, mask, view.wavs.shape[-1], domain
        )
        truth = {
            "SISDR": si_sdr(explanation, view.clean),
            "SISDR_input": si_sdr(view.wavs, view.clean),
        }
        truth["SISDR_gain"] = truth["SISDR"] - truth["SISDR_input"]
        truth.update(oracle_overlap(mask, view.clean_magnitude))
        silent = (
            view.clean.abs().amax(dim=-1) == 0
        )  # a class the classifier marks present but the clip lacks
        metrics.update(
            {
                name: value.masked_fill(silent, float("nan"))
                for name, value in truth.items()
            }
        )
    return metrics


def clean_source(batch, classifier):
    """The clean target of a batch as :class:`ClipView` takes it: each class's source ``[B, C, N]`` for a
    multi-label classifier (``clean_class_sig``), the target event ``[B, N]`` otherwise; None when unknown."""
    if getattr(classifier, "multilabel", False):
        return (
            batch_tensor(batch.clean_class_sig)
            if hasattr(batch, "clean_class_sig")
            else None
        )
    return (
        batch_tensor(batch.clean_sig) if hasattr(batch, "clean_sig") else None
    )


class InterpreterBrain(ResumableMixin, CPUDistributedMixin, sb.Brain):
    """Base Brain of every explanation method.

    Subclasses implement :meth:`explain` (a mask ``[B, T, F]`` in [0, 1] for a :class:`ClipView`) and, when
    trainable, :meth:`compute_objectives`. hparams used: ``mask_domain``, ``output_folder``, ``n_export``
    (clips exported on the test stage), ``checkpoint_key`` / ``checkpoint_mode`` (validation metric that picks
    the best checkpoint; default ``loss`` / ``min``), ``train_logger``.

    Arguments
    ---------
    classifier : SpectrogramClassifier
        Frozen; kept out of ``modules`` so it is neither optimised nor wrapped by DDP.
    """

    def __init__(self, classifier, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.classifier = (
            classifier.to(self.device).eval().requires_grad_(False)
        )
        self.test_stats = None

    # --- what a method provides -------------------------------------------------------------------
    def explain(self, view):
        """Mask ``[B, T, F]`` in [0, 1] explaining ``view.decision``."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement explain()"
        )

    def interpreter_parameters(self):
        """Number of parameters of the method's own modules (reported as ``params``)."""
        return count_parameters(self.modules) if self.modules is not None else 0

    # --- shared machinery -------------------------------------------------------------------------
    @property
    def mask_domain(self):
        return getattr(self.hparams, "mask_domain", "linear")

    def make_view(self, batch, stage):
        """The :class:`ClipView` of a batch; subclasses may mix contaminants in during training."""
        batch = batch.to(self.device)
        return ClipView(
            batch_tensor(batch.sig),
            self.classifier,
            clean_source(batch, self.classifier),
        )

    def collect(self, batch, view, mask, extra=None, masked_logits=None):
        """On valid / test: add the batch's metrics (and a method's own per-row ``extra`` ``{name: [R]}``),
        and export the first clips on test. ``masked_logits``: see :func:`explanation_metrics`."""
        metrics = explanation_metrics(
            self.classifier, view, mask, self.mask_domain, masked_logits
        )
        metrics.update(extra or {})
        ids = view.row_ids(batch.id, getattr(self.hparams, "classes", None))
        self.metric_collector.append(
            ids, **{k: v.cpu() for k, v in metrics.items()}
        )
        if self.stage == sb.Stage.TEST and if_main_process():
            self.export_listenable(ids, view, mask)

    def export_listenable(self, ids, view, mask):
        """Write ``<id>_input.wav``, ``<id>_explanation.wav`` and ``<id>.png`` for up to ``n_export`` clips."""
        folder = os.path.join(self.hparams.output_folder, "explanations")
        limit = getattr(self.hparams, "n_export", 10)
        explanation = listenable(
            view.magnitude,
            view.phase,
            mask.detach(),
            view.wavs.shape[-1],
            self.mask_domain,
        )
        classes = getattr(self.hparams, "classes", None)
        for i, clip_id in enumerate(ids):
            if self.n_exported >= limit:
                return
            decision = int(view.decision[i])
            label = classes[decision] if classes else str(decision)
            write_audio(
                os.path.join(folder, f"{clip_id}_input.wav"), view.wavs[i]
            )
            write_audio(
                os.path.join(folder, f"{clip_id}_explanation.wav"),
                explanation[i],
            )
            save_explanation_figure(
                os.path.join(folder, f"{clip_id}.png"),
                view.magnitude[i],
                mask[i],
                title=f"{clip_id}: decision {label} (p={view.probs[i, decision]:.2f})",
                domain=self.mask_domain,
            )
            self.n_exported += 1

    def on_stage_start(self, stage, epoch=None):
        super().on_stage_start(stage, epoch)
        self.stage = stage
        self.classifier.eval()
        self.metric_collector = MetricCollector()
        self.n_exported = 0

    def on_stage_end(self, stage, stage_loss, epoch=None):
        stage_loss = self.stage_loss(stage, stage_loss)
        if stage == sb.Stage.TRAIN:
            self.train_loss = stage_loss
            return
        self.gather_collector(
            self.metric_collector
        )  # under torchrun: every process's clips, in the one-process order
        stats = {"loss": stage_loss, **self.metric_collector.summarize()}
        if stage == sb.Stage.VALID:
            key = getattr(self.hparams, "checkpoint_key", "loss")
            mode = getattr(self.hparams, "checkpoint_mode", "min")
            if key not in stats:
                raise InputError(
                    f"checkpoint_key {key!r} is not a validation metric of "
                    f"{type(self).__name__}; it has: {', '.join(sorted(stats))}"
                )
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch},
                train_stats={"loss": self.train_loss},
                valid_stats=stats,
            )
            stop_on_plateau(self.hparams, stats[key])
            if self.checkpointer is not None:
                keys = (
                    {"min_keys": [key]}
                    if mode == "min"
                    else {"max_keys": [key]}
                )
                self.checkpointer.save_and_keep_only(
                    meta={key: stats[key]}, **keys
                )
        elif stage == sb.Stage.TEST:
            stats["params"] = self.interpreter_parameters()
            stats["n_clips"] = len(self.metric_collector.ids)
            stats.update(getattr(self, "extra_test_stats", {}))
            self.test_stats = stats
            self.hparams.train_logger.log_stats(
                stats_meta={"test": "best checkpoint"}, test_stats=stats
            )
            if if_main_process():
                path = write_stage_metrics(
                    self.hparams.output_folder, "test", stats
                )
                logger.info("Test metrics written to %s", path)
