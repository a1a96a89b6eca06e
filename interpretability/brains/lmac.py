"""L-MAC training (docs/methods.md, "L-MAC"): a decoder over the frozen classifier's hidden representations,
trained with the mask-in / mask-out objective, optionally fine-tuned with clean-source guidance (L-MAC FT).
"""

import contextlib
import zlib

import torch

import speechbrain as sb
from interpretability.brains.interpreter import (
    ClipView,
    InterpreterBrain,
    clean_source,
)
from interpretability.errors import InputError
from interpretability.interpreters.lmac import lmac_objective, masked_logits

MISSING_CLEAN_BY_CLASS = (
    "L-MAC FT guidance (guidance_weight > 0) of a multi-label classifier needs each class's clean source apart "
    "(the synthetic set's audio_clean/by_class/), and this data has none; set --guidance_weight=0 to train plain "
    "L-MAC"
)


def circular_shift(wavs, clean=None):
    """Each clip of ``wavs [B, N]`` rotated in time by its own random offset, and its clean source (``[B, N]`` or
    ``[B, C, N]``) by the same offset. Returns ``(wavs, clean)``.

    Example
    -------
    >>> wavs = torch.arange(6.0).repeat(3, 1)
    >>> shifted, clean = circular_shift(wavs, wavs.clone())
    >>> bool(torch.equal(shifted, clean)), sorted(shifted[0].tolist())
    (True, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    """
    rows, samples = wavs.shape
    offsets = torch.randint(0, samples, (rows, 1), device=wavs.device)
    index = (torch.arange(samples, device=wavs.device) + offsets) % samples
    if clean is not None:
        clean_index = (
            index if clean.dim() == 2 else index.unsqueeze(1).expand_as(clean)
        )
        clean = clean.gather(-1, clean_index)
    return wavs.gather(1, index), clean


def random_gain(rows, gain_db, device=None):
    """A gain per clip, ``[rows, 1]``, uniform in dB over ``[-gain_db, gain_db]`` (or ``[low, high]``).

    Example
    -------
    >>> gain = random_gain(1000, 20.0)
    >>> decibels = 20 * torch.log10(gain)
    >>> gain.shape, bool(decibels.min() >= -20), bool(decibels.max() <= 20)
    (torch.Size([1000, 1]), True, True)
    """
    low, high = (
        (-float(gain_db), float(gain_db))
        if isinstance(gain_db, (int, float))
        else (float(gain_db[0]), float(gain_db[1]))
    )
    decibels = low + (high - low) * torch.rand(rows, 1)
    return torch.pow(10.0, decibels / 20).to(device)


def _blend_share(wavs, mixed, share):
    """Each row of ``mixed`` with probability ``share``, else that row of ``wavs``; both ``[B, N]``."""
    chosen = (torch.rand(wavs.shape[0], 1, device=wavs.device) < share).to(
        wavs.dtype
    )
    return chosen * mixed + (1 - chosen) * wavs


@contextlib.contextmanager
def fixed_draws(ids, bank=None):
    """Random draws fixed by the clip ids of a batch (torch's global generator and a contaminant ``bank``'s are
    seeded from them and put back afterwards): ``valid_augmented`` validates on the same changed clips every epoch
    and leaves the training's draws as they were."""
    seed = zlib.crc32("\n".join(map(str, ids)).encode("utf-8"))
    generator = getattr(bank, "_generator", None)
    saved = generator.get_state() if generator is not None else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if generator is not None:
            generator.manual_seed(seed)
        try:
            yield
        finally:
            if generator is not None:
                generator.set_state(saved)


class LMACBrain(InterpreterBrain):
    """``modules.decoder`` is an :class:`~interpretability.interpreters.lmac.LMACDecoder`.

    hparams used beyond :class:`InterpreterBrain`'s: ``l_in``, ``l_out``, ``l_1``, ``l_tv``; contaminant mixing
    during training: ``contaminant_prob`` (share of training clips mixed), ``contaminant_snr_db``,
    ``contaminants`` (a :class:`~interpretability.data.mixtures.ContaminantBank` or None: then another clip of
    the batch is the contaminant); ``time_shift`` (each training clip rotated in time by a random offset) and
    ``gain_db`` (each training clip scaled by a random gain, uniform in dB, so that the decoder meets inputs at
    other levels than its training clips'); ``noise_prob`` (share of training clips mixed with coloured Gaussian
    noise of a random spectral slope, :func:`~interpretability.data.mixtures.coloured_noise`) at an SNR drawn
    uniformly from ``noise_snr_db`` (``[low, high]`` dB); ``valid_augmented`` (the validation clips changed as the
    training clips are, with draws fixed per clip, so that the checkpoint kept is chosen on what the decoder is
    trained for); fine-tuning: ``guidance_weight`` (0 disables it),
    ``guidance_corr_threshold``, ``guidance_oracle_threshold``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        bank = (
            getattr(self.hparams, "contaminants", None)
            if hasattr(self, "hparams")
            else None
        )
        if (
            bank is not None
            and self.random_state is not None
            and hasattr(bank, "_generator")
        ):
            self.random_state.add_generator(
                "contaminants", bank._generator
            )  # resumes the bank's draws too

    def explain(self, view):
        # a multi-label decoder has a mask per class: each (clip, class) row takes its class's
        # the decoder's mask, sigmoid(forward), called through forward: under torchrun the module is DDP's wrapper
        return torch.sigmoid(
            self.modules.decoder(
                view.hidden, view.n_frames, classes=view.decision
            )
        )

    @property
    def augments(self):
        """True when training clips are changed (contaminants, time shift, gain or noise)."""
        return bool(
            getattr(self.hparams, "contaminant_prob", 0.0) > 0
            or getattr(self.hparams, "time_shift", False)
            or getattr(self.hparams, "gain_db", 0.0)
            or getattr(self.hparams, "noise_prob", 0.0) > 0
        )

    def make_view(self, batch, stage):
        if not self.augments or stage == sb.Stage.TEST:
            return super().make_view(batch, stage)
        if stage == sb.Stage.TRAIN:
            return self.augmented_view(batch)
        if not getattr(self.hparams, "valid_augmented", False):
            return super().make_view(batch, stage)
        with fixed_draws(batch.id, getattr(self.hparams, "contaminants", None)):
            return self.augmented_view(batch)

    def augmented_view(self, batch):
        """The :class:`ClipView` of a batch changed as training changes it (contaminants, noise, shift, gain)."""
        batch = batch.to(self.device)
        wavs = batch.sig.data
        clean = clean_source(batch, self.classifier)
        if getattr(self.hparams, "time_shift", False):
            wavs, clean = circular_shift(wavs, clean)
        mixture = self.add_noise(self.contaminate(wavs))
        if getattr(self.hparams, "gain_db", 0.0):
            gain = random_gain(
                wavs.shape[0], self.hparams.gain_db, device=self.device
            )
            mixture, wavs = mixture * gain, wavs * gain
            clean = (
                None
                if clean is None
                else clean * gain.view(-1, *([1] * (clean.dim() - 1)))
            )
        if (
            clean is None
            and self.guidance_weight > 0
            and not self.classifier.multilabel
        ):
            clean = wavs  # real data: the clip itself is the clean source of its mixture
        return ClipView(mixture, self.classifier, clean)

    def contaminate(self, wavs):
        """A share ``contaminant_prob`` of the training clips ``wavs [B, N]`` mixed at ``contaminant_snr_db`` with a
        clip of the contaminant bank, or else with another clip of the batch. ``[B, N]``."""
        from interpretability.data.mixtures import mix_at_snr

        share = float(getattr(self.hparams, "contaminant_prob", 0.0))
        if share <= 0:
            return wavs
        bank = getattr(self.hparams, "contaminants", None)
        contaminant = (
            bank.sample(wavs.shape[0]).to(self.device)
            if bank is not None
            else wavs.roll(1, dims=0)
        )
        mixed = mix_at_snr(
            wavs, contaminant, getattr(self.hparams, "contaminant_snr_db", 0.0)
        )
        return _blend_share(wavs, mixed, share)

    def add_noise(self, wavs):
        """A share ``noise_prob`` of the clips ``wavs [B, N]`` mixed with coloured noise at an SNR uniform in
        ``noise_snr_db``; the others unchanged. ``[B, N]``."""
        from interpretability.data.mixtures import coloured_noise, mix_at_snr

        share = float(getattr(self.hparams, "noise_prob", 0.0))
        if share <= 0:
            return wavs
        low, high = (
            float(v) for v in getattr(self.hparams, "noise_snr_db", (0.0, 20.0))
        )
        rows = wavs.shape[0]
        noise = coloured_noise(rows, wavs.shape[1]).to(wavs.device)
        snr_db = low + (high - low) * torch.rand(rows, device=wavs.device)
        return _blend_share(wavs, mix_at_snr(wavs, noise, snr_db), share)

    @property
    def guidance_weight(self):
        return float(getattr(self.hparams, "guidance_weight", 0.0))

    def compute_forward(self, batch, stage):
        view = self.make_view(batch, stage)
        return view, self.explain(view)

    def on_stage_start(self, stage, epoch=None):
        super().on_stage_start(stage, epoch)
        if stage == sb.Stage.TRAIN:
            self.guided_rows, self.trained_rows = 0.0, 0

    def compute_objectives(self, predictions, batch, stage):
        view, mask = predictions
        guidance = None
        if (
            self.guidance_weight > 0
            and view.clean is None
            and self.classifier.multilabel
        ):
            raise InputError(MISSING_CLEAN_BY_CLASS)
        if self.guidance_weight > 0 and view.clean is not None:
            guidance = {
                "clean_magnitude": view.clean_magnitude,
                "weight": self.guidance_weight,
                "corr_threshold": getattr(
                    self.hparams, "guidance_corr_threshold", 0.6
                ),
                "oracle_threshold": getattr(
                    self.hparams, "guidance_oracle_threshold", 0.35
                ),
            }
        logits = None
        if (
            stage != sb.Stage.TRAIN
        ):  # one pair of forward passes for the loss and the metrics
            with torch.no_grad():
                logits = masked_logits(
                    self.classifier, view.magnitude, mask, self.mask_domain
                )
        loss, terms = lmac_objective(
            self.classifier,
            view.magnitude,
            mask,
            view.decision,
            l_in=self.hparams.l_in,
            l_out=self.hparams.l_out,
            l_1=self.hparams.l_1,
            l_tv=getattr(self.hparams, "l_tv", 0.0),
            domain=self.mask_domain,
            guidance=guidance,
            logits=logits,
        )
        if stage == sb.Stage.TRAIN:
            self.guided_rows += float(terms["guided"]) * len(view.decision)
            self.trained_rows += len(view.decision)
        else:
            self.collect(batch, view, mask, masked_logits=logits)
        return loss

    def on_stage_end(self, stage, stage_loss, epoch=None):
        if stage == sb.Stage.TRAIN and self.trained_rows:
            # share of the last training epoch's rows that got the FT guidance term (0 for plain L-MAC)
            self.guided_share = self.guided_rows / self.trained_rows
        if stage == sb.Stage.TEST and self.guidance_weight > 0:
            self.extra_test_stats = {
                "guided_share": getattr(self, "guided_share", float("nan"))
            }
        super().on_stage_end(stage, stage_loss, epoch)
