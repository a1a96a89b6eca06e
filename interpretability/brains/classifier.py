"""Training a :class:`SpectrogramClassifier` with SpeechBrain's ``Brain``.

Multi-class: cross-entropy, accuracy. Multi-label (SONYC-UST): binary cross-entropy masked where no annotator
labelled a class, evaluated with the DCASE task 5 micro / macro AUPRC and micro-F1.
"""

import logging

import torch
import torch.nn.functional as F

import speechbrain as sb
from interpretability.brains.distributed import CPUDistributedMixin
from interpretability.brains.resume import ResumableMixin
from interpretability.classifiers.base import count_parameters
from interpretability.results import write_stage_metrics
from interpretability.spectral import magnitude_phase
from speechbrain.utils.distributed import if_main_process

logger = logging.getLogger(__name__)


def batch_tensor(value):
    """The tensor of a ``PaddedBatch`` field (its ``.data`` when padded)."""
    return (
        value.data
        if hasattr(value, "data") and not isinstance(value, torch.Tensor)
        else value
    )


def augment_waveforms(wavs, max_gain_db=6.0, generator=None):
    """Random gain (+-``max_gain_db``) and a random circular time shift per clip. ``[B, N] -> [B, N]``."""
    batch, length = wavs.shape
    gain_db = (torch.rand(batch, 1, generator=generator) * 2 - 1) * max_gain_db
    shifts = torch.randint(0, length, (batch,), generator=generator)
    index = (torch.arange(length).unsqueeze(0) - shifts.unsqueeze(1)) % length
    shifted = torch.gather(wavs, 1, index.to(wavs.device))
    return shifted * (10 ** (gain_db / 20)).to(wavs.device)


def stop_on_plateau(hparams, value):
    """Feed the validation metric to an early-stopping epoch counter (SpeechBrain's ``EpochCounterWithStopper``
    as ``epoch_counter`` in the hparams: training ends once it has not improved for ``limit_to_stop`` epochs);
    a plain ``EpochCounter`` runs every epoch."""
    counter = getattr(hparams, "epoch_counter", None)
    if hasattr(counter, "update_metric"):
        counter.update_metric(value)


def decision_confidence(probs, multilabel=False, saturated=0.99):
    """How sure the classifier is of its decisions: ``mean_confidence`` (mean decision probability) and
    ``share_above_0.99`` (share of decisions above ``saturated``). A saturated classifier caps AI and AG for every
    explanation method, so both are reported beside the accuracy.

    ``probs`` ``[N, C]``: softmax outputs (the decision is the argmax), or per-class sigmoids for a multi-label
    classifier (one decision per class marked present, or the top class of a clip with none, as explained).
    """
    if multilabel:
        present = probs >= 0.5
        none = ~present.any(dim=1)
        present[none, probs[none].argmax(dim=1)] = True
        decided = probs[present]
    else:
        decided = probs.max(dim=1).values
    return {
        "mean_confidence": float(decided.mean()),
        f"share_above_{saturated}": float((decided > saturated).float().mean()),
    }


class ClassifierBrain(ResumableMixin, CPUDistributedMixin, sb.Brain):
    """Brain for ``modules.classifier`` on waveforms ``batch.sig``.

    hparams used: ``multilabel``, ``augment``, ``output_folder``, ``lr_annealing`` (optional),
    ``train_logger``; the checkpointer keeps the best model on ``selection_metric`` (and the latest, which a
    killed run resumes from, random state included). Under torchrun each process scores its block of the valid /
    test clips and the scores are gathered, so the metrics cover every clip once.
    """

    @property
    def multilabel(self):
        return bool(getattr(self.hparams, "multilabel", False))

    @property
    def selection_metric(self):
        return "macro_auprc" if self.multilabel else "acc"

    def compute_forward(self, batch, stage):
        batch = batch.to(self.device)
        wavs = batch_tensor(batch.sig)
        if stage == sb.Stage.TRAIN and getattr(self.hparams, "augment", False):
            wavs = augment_waveforms(wavs)
        magnitude, _ = magnitude_phase(wavs)
        return self.modules.classifier(magnitude)

    def compute_objectives(self, logits, batch, stage):
        if self.multilabel:
            targets = batch_tensor(batch.target_vector)
            annotated = batch_tensor(batch.annotated)
            per_class = F.binary_cross_entropy_with_logits(
                logits, targets, reduction="none"
            )
            loss = (per_class * annotated).sum() / annotated.sum().clamp(
                min=1.0
            )
            reference = targets
        else:
            reference = batch_tensor(batch.class_id).long().view(-1)
            loss = F.cross_entropy(
                logits,
                reference,
                label_smoothing=getattr(self.hparams, "label_smoothing", 0.0),
            )
        if stage != sb.Stage.TRAIN:
            self._scores.append(logits.detach().float().cpu())
            self._references.append(reference.detach().cpu())
        return loss

    def on_stage_start(self, stage, epoch=None):
        super().on_stage_start(stage, epoch)
        self._scores, self._references = [], []

    def stage_metrics(self):
        """Metrics over everything seen in the current valid / test stage (by every process under torchrun)."""
        gathered = self.gather_lists(
            {"scores": self._scores, "references": self._references}
        )
        self._scores, self._references = (
            gathered["scores"],
            gathered["references"],
        )
        scores = torch.cat(self._scores)
        references = torch.cat(self._references)
        if self.multilabel:
            from interpretability.metrics.classification import (
                dcase_auprc,
                micro_f1,
            )

            probs = torch.sigmoid(scores)
            auprc = dcase_auprc(references, probs)
            return {
                "micro_auprc": float(auprc["micro_auprc"]),
                "macro_auprc": float(auprc["macro_auprc"]),
                "micro_f1": float(micro_f1(references, probs, threshold=0.5)),
                **decision_confidence(probs, multilabel=True),
            }
        return {
            "acc": float((scores.argmax(dim=-1) == references).float().mean()),
            **decision_confidence(torch.softmax(scores, dim=-1)),
        }

    def on_stage_end(self, stage, stage_loss, epoch=None):
        stage_loss = self.stage_loss(stage, stage_loss)
        if stage == sb.Stage.TRAIN:
            self.train_loss = stage_loss
            return
        stats = {"loss": stage_loss, **self.stage_metrics()}
        if stage == sb.Stage.VALID:
            lr = self.optimizer.param_groups[0]["lr"]
            annealing = getattr(self.hparams, "lr_annealing", None)
            if annealing is not None:
                _, lr = annealing(stats["loss"])
                sb.nnet.schedulers.update_learning_rate(self.optimizer, lr)
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": lr},
                train_stats={"loss": self.train_loss},
                valid_stats=stats,
            )
            if not getattr(self.hparams, "shuffle_labels", False):
                # on permuted labels the validation metric is noise: train the whole budget
                stop_on_plateau(self.hparams, stats[self.selection_metric])
            self.checkpointer.save_and_keep_only(
                meta={self.selection_metric: stats[self.selection_metric]},
                max_keys=[self.selection_metric],
            )
        elif stage == sb.Stage.TEST:
            self.hparams.train_logger.log_stats(
                stats_meta={"Epoch loaded": self.hparams.epoch_counter.current},
                test_stats=stats,
            )
            self.test_stats = stats
            if if_main_process():
                stats["n_clips"] = int(sum(len(s) for s in self._scores))
                stats["params"] = count_parameters(self.hparams.classifier)
                # the epoch of the tested checkpoint (the best on validation, or the last with shuffle_labels)
                stats["epoch_loaded"] = int(self.hparams.epoch_counter.current)
                path = write_stage_metrics(
                    self.hparams.output_folder, "test", stats
                )
                logger.info("Test metrics written to %s", path)
