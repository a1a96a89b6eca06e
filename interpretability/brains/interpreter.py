"""The evaluation every interpreter shares (METHODS.md, "Faithfulness and structure metrics", "ground truth").

An :class:`InterpreterBrain` holds a frozen classifier and a method that turns a clip into a mask on the linear
STFT grid. On the valid / test stages it computes, on one code path for every method: AI, AD, AG, FF (mean and
median), Fid-In, SPS, COMP, MM and, where the clean target is known, SI-SDR of the listenable explanation and of
the input against it and the mask's precision / recall / IoU against the oracle mask. The test stage writes
``<output_folder>/test_metrics.json`` and exports listenable explanations.
"""
import logging
import os

import torch
import speechbrain as sb
from speechbrain.utils.distributed import if_main_process

from interpretability.audio import write_audio
from interpretability.brains.classifier import batch_tensor
from interpretability.classifiers.base import count_parameters
from interpretability.metrics.faithfulness import faithfulness_metrics
from interpretability.metrics.ground_truth import mask_overlap, oracle_mask, si_sdr
from interpretability.metrics.stats import MetricCollector
from interpretability.metrics.structure import structure_metrics
from interpretability.report.figures import save_explanation_figure
from interpretability.results import write_stage_metrics
from interpretability.spectral import apply_mask, listenable, magnitude_phase

logger = logging.getLogger(__name__)


class ClipView:
    """One batch as every method sees it: waveforms, ``|X|`` and phase ``[B, T, F]``, the classifier's
    logits, probabilities, decision and hidden representations, and the clean target when known."""

    def __init__(self, wavs, classifier, clean=None):
        self.wavs = wavs
        self.magnitude, self.phase = magnitude_phase(wavs)
        with torch.no_grad():
            self.logits, self.hidden = classifier.forward_with_hidden(self.magnitude)
        self.probs = classifier.probabilities(self.logits)
        self.decision = self.logits.argmax(dim=-1)
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


def explanation_metrics(classifier, view, mask, domain="linear"):
    """Every per-clip metric of ``mask`` ``[B, T, F]`` for the classifier's decision.

    Returns ``{name: Tensor[B]}``: AI, AD, AG, FF, FidIn, SPS, COMP, MM and, with a clean target, SISDR,
    SISDR_input, SISDR_gain, precision, recall, IoU.
    """
    mask = mask.detach()
    with torch.no_grad():
        p_in = classifier.probabilities(classifier(apply_mask(view.magnitude, mask, domain)))
        p_out = classifier.probabilities(classifier(apply_mask(view.magnitude, 1 - mask, domain)))
    metrics = faithfulness_metrics(view.probs, p_in, p_out, view.decision)
    metrics.update(structure_metrics(mask))
    if view.clean is not None:
        explanation = listenable(view.magnitude, view.phase, mask, view.wavs.shape[-1], domain)
        metrics["SISDR"] = si_sdr(explanation, view.clean)
        metrics["SISDR_input"] = si_sdr(view.wavs, view.clean)
        metrics["SISDR_gain"] = metrics["SISDR"] - metrics["SISDR_input"]
        metrics.update(mask_overlap(mask, oracle_mask(view.clean_magnitude)))
    return metrics


class InterpreterBrain(sb.Brain):
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
        self.classifier = classifier.to(self.device).eval().requires_grad_(False)
        self.test_stats = None

    # --- what a method provides -------------------------------------------------------------------
    def explain(self, view):
        """Mask ``[B, T, F]`` in [0, 1] explaining ``view.decision``."""
        raise NotImplementedError(f"{type(self).__name__} must implement explain()")

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
        clean = batch_tensor(batch.clean_sig) if hasattr(batch, "clean_sig") else None
        return ClipView(batch_tensor(batch.sig), self.classifier, clean)

    def collect(self, batch, view, mask):
        """On valid / test: add the batch's metrics, and export the first clips on test."""
        metrics = explanation_metrics(self.classifier, view, mask, self.mask_domain)
        self.metric_collector.append(batch.id, **{k: v.cpu() for k, v in metrics.items()})
        if self.stage == sb.Stage.TEST and if_main_process():
            self.export_listenable(batch.id, view, mask)

    def export_listenable(self, ids, view, mask):
        """Write ``<id>_input.wav``, ``<id>_explanation.wav`` and ``<id>.png`` for up to ``n_export`` clips."""
        folder = os.path.join(self.hparams.output_folder, "explanations")
        limit = getattr(self.hparams, "n_export", 10)
        explanation = listenable(view.magnitude, view.phase, mask.detach(), view.wavs.shape[-1], self.mask_domain)
        classes = getattr(self.hparams, "classes", None)
        for i, clip_id in enumerate(ids):
            if self.n_exported >= limit:
                return
            decision = int(view.decision[i])
            label = classes[decision] if classes else str(decision)
            write_audio(os.path.join(folder, f"{clip_id}_input.wav"), view.wavs[i])
            write_audio(os.path.join(folder, f"{clip_id}_explanation.wav"), explanation[i])
            save_explanation_figure(
                os.path.join(folder, f"{clip_id}.png"), view.magnitude[i], mask[i],
                title=f"{clip_id}: decision {label} (p={view.probs[i, decision]:.2f})", domain=self.mask_domain,
            )
            self.n_exported += 1

    def on_stage_start(self, stage, epoch=None):
        self.stage = stage
        self.classifier.eval()
        self.metric_collector = MetricCollector()
        self.n_exported = 0

    def on_stage_end(self, stage, stage_loss, epoch=None):
        if stage == sb.Stage.TRAIN:
            self.train_loss = stage_loss
            return
        stats = {"loss": stage_loss, **self.metric_collector.summarize()}
        if stage == sb.Stage.VALID:
            key = getattr(self.hparams, "checkpoint_key", "loss")
            mode = getattr(self.hparams, "checkpoint_mode", "min")
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch}, train_stats={"loss": self.train_loss}, valid_stats=stats
            )
            if self.checkpointer is not None:
                keys = {"min_keys": [key]} if mode == "min" else {"max_keys": [key]}
                self.checkpointer.save_and_keep_only(meta={key: stats[key]}, **keys)
        elif stage == sb.Stage.TEST:
            stats["params"] = self.interpreter_parameters()
            stats["n_clips"] = len(self.metric_collector.ids)
            self.test_stats = stats
            self.hparams.train_logger.log_stats(stats_meta={"test": "best checkpoint"}, test_stats=stats)
            if if_main_process():
                path = write_stage_metrics(self.hparams.output_folder, "test", stats)
                logger.info("Test metrics written to %s", path)
