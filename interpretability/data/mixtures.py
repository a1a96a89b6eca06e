"""Mixing clips with contaminants: L-MAC's 0 dB training augmentation and the out-of-domain conditions.

docs/methods.md, "L-MAC" (training data augmentation) and "Out-of-domain evaluation". Waveforms are
``[batch, samples]`` (or ``[samples]``) float tensors at 16 kHz.
"""

import logging
import os

import torch

from interpretability.audio import SAMPLE_RATE, read_audio
from interpretability.errors import DataError

logger = logging.getLogger(__name__)

OOD_CONDITIONS = ("other_class_mixture", "white_noise", "speech_mixture")
# (weight of the clean clip, weight of the contaminant), both applied to unit-norm signals.
OOD_WEIGHTS = {
    "other_class_mixture": (0.8, 0.2),
    "white_noise": (1.0, 0.5),
    "speech_mixture": (0.8, 0.2),
}


def _energy(wav):
    return wav.pow(2).sum(dim=-1, keepdim=True)


def unit_norm(wav):
    """Scale each row to unit L2 norm along the last axis; an all-zero row stays zero. Same shape as ``wav``."""
    norm = _energy(wav).sqrt()
    return torch.where(
        norm > 0, wav / torch.where(norm > 0, norm, torch.ones_like(norm)), wav
    )


def _peak_normalize(wav, *others, peak=1.0):
    """Scale each row of ``wav`` so that its largest absolute sample is ``peak``, and ``others`` by the same
    factor; all-zero rows are left alone."""
    top = wav.abs().amax(dim=-1, keepdim=True)
    scale = torch.where(
        top > 0,
        peak / torch.where(top > 0, top, torch.ones_like(top)),
        torch.ones_like(top),
    )
    return (wav * scale, *(other * scale for other in others))


def mix_at_snr(signal, noise, snr_db):
    """``signal + g * noise`` with ``g`` per row such that ``10 log10(E_signal / E_{g*noise}) = snr_db``.

    Arguments
    ---------
    signal, noise : torch.Tensor, ``[batch, samples]`` or ``[samples]``, same shape.
    snr_db : float or torch.Tensor ``[batch]``.

    Returns
    -------
    torch.Tensor, the mixture, shape of ``signal``. A row whose noise is silent is returned as its signal
    (nothing can be added at a finite SNR); a silent signal gets no noise either (``g = 0``).
    """
    if signal.shape != noise.shape:
        raise ValueError(
            f"signal and noise must have one shape, got {tuple(signal.shape)} and {tuple(noise.shape)}"
        )
    snr_db = torch.as_tensor(snr_db, dtype=signal.dtype, device=signal.device)
    if snr_db.dim() == 1:
        snr_db = snr_db.unsqueeze(-1)
    signal_energy, noise_energy = _energy(signal), _energy(noise)
    silent = noise_energy == 0
    if bool(silent.any()):
        logger.debug(
            "mix_at_snr: %d silent noise row(s) left out of the mixture",
            int(silent.sum()),
        )
    gain = torch.sqrt(
        signal_energy
        / (
            torch.where(silent, torch.ones_like(noise_energy), noise_energy)
            * 10 ** (snr_db / 10)
        )
    )
    gain = torch.where(silent, torch.zeros_like(gain), gain)
    return signal + gain * noise


def training_mixture(clean, contaminant, snr_db=0.0, peak=1.0):
    """L-MAC's training augmentation: ``clean`` mixed with ``contaminant`` at ``snr_db`` (0 dB by default).

    The mixture is scaled per row so that its largest absolute sample is ``peak`` (as the reference does;
    ``peak=None`` keeps the level), and the clean reference is scaled by the same factor, so it is exactly the
    clean part of the mixture: ``mixture - clean_reference`` is the scaled contaminant.

    Arguments
    ---------
    clean, contaminant : torch.Tensor, ``[batch, samples]`` (or ``[samples]``), same shape.

    Returns
    -------
    (mixture, clean_reference) : two tensors of the shape of ``clean``.
    """
    mixture = mix_at_snr(clean, contaminant, snr_db)
    if peak is None:
        return mixture, clean.clone()
    return _peak_normalize(mixture, clean, peak=peak)


def ood_mixture(
    clean,
    condition,
    other=None,
    speech=None,
    generator=None,
    peak_normalize=True,
    return_clean=False,
):
    """An out-of-domain version of ``clean`` (docs/methods.md, "Out-of-domain evaluation").

    The weights apply to unit-norm signals (``unit_norm`` of each row):

    - ``other_class_mixture``: ``0.8 * unit_norm(clean) + 0.2 * unit_norm(other)``, ``other`` a clip of
      another class;
    - ``white_noise``: ``1.0 * unit_norm(clean) + 0.5 * unit_norm(n)``, ``n`` Gaussian white noise drawn with
      ``generator``;
    - ``speech_mixture``: ``0.8 * unit_norm(clean) + 0.2 * unit_norm(speech)``.

    With ``peak_normalize`` (default, as the reference) each mixture row is then scaled to a largest absolute
    sample of 1; the ratio of the parts is unchanged.

    Arguments
    ---------
    clean : torch.Tensor, ``[batch, samples]`` (or ``[samples]``).
    condition : str, one of ``OOD_CONDITIONS``.
    other, speech : torch.Tensor, shape of ``clean``; required by their condition.
    generator : torch.Generator, for the white noise.
    return_clean : bool, also return the clean part of the mixture (scaled as in the mixture).

    Returns
    -------
    torch.Tensor ``mixture``, or ``(mixture, clean_part)`` with ``return_clean``.
    """
    if condition not in OOD_WEIGHTS:
        raise ValueError(
            f"unknown OOD condition {condition!r}; known: {list(OOD_CONDITIONS)}"
        )
    if condition == "white_noise":
        contaminant = torch.randn(
            clean.shape, generator=generator, dtype=clean.dtype, device="cpu"
        )
        contaminant = contaminant.to(clean.device)
    else:
        contaminant = other if condition == "other_class_mixture" else speech
        name = "other" if condition == "other_class_mixture" else "speech"
        if contaminant is None:
            raise ValueError(
                f"OOD condition {condition!r} needs the {name!r} signal"
            )
        if contaminant.shape != clean.shape:
            raise ValueError(
                f"{name} must have the shape of clean {tuple(clean.shape)}, got {tuple(contaminant.shape)}"
            )
    clean_weight, contaminant_weight = OOD_WEIGHTS[condition]
    clean_part = clean_weight * unit_norm(clean)
    mixture = clean_part + contaminant_weight * unit_norm(contaminant)
    if peak_normalize:
        mixture, clean_part = _peak_normalize(mixture, clean_part)
    return (mixture, clean_part) if return_clean else mixture


def _wav_files(folder):
    files = []
    for root, _, names in os.walk(folder):
        files.extend(
            os.path.join(root, name)
            for name in names
            if name.lower().endswith(".wav")
        )
    return sorted(files)


class ContaminantBank:
    """Random fixed-length crops of a set of wav files (noise, speech, any contaminant source).

    Arguments
    ---------
    files : list of str, or str
        The wav files, or a folder searched recursively for ``*.wav``.
    num_samples : int
        Length of every crop.
    sample_rate : int
        Files at any rate are resampled to this one (:func:`interpretability.audio.read_audio`).
    seed : int
        Seed of the bank's own generator, used when ``sample`` gets none.
    cache : bool
        Keep decoded files in memory after their first use (default); turn off for very large folders.

    Raises
    ------
    DataError
        The folder does not exist or holds no wav file.
    """

    def __init__(
        self, files, num_samples, sample_rate=SAMPLE_RATE, seed=0, cache=True
    ):
        if isinstance(files, (str, os.PathLike)):
            folder = os.fspath(files)
            if not os.path.isdir(folder):
                raise DataError(f"{folder}: contaminant folder not found")
            files = _wav_files(folder)
            if not files:
                raise DataError(
                    f"{folder}: contaminant folder holds no wav file"
                )
        else:
            files = [os.fspath(f) for f in files]
            if not files:
                raise DataError("contaminant file list is empty")
        if num_samples <= 0:
            raise ValueError(f"num_samples must be positive, got {num_samples}")
        self.files = files
        self.num_samples = int(num_samples)
        self.sample_rate = int(sample_rate)
        self.cache = cache
        self._loaded = {}
        self._generator = torch.Generator().manual_seed(int(seed))

    def __len__(self):
        return len(self.files)

    def load(self, index):
        """The whole file ``index`` as ``[samples]`` at the bank's rate."""
        wav = self._loaded.get(index)
        if wav is None:
            wav = read_audio(self.files[index], self.sample_rate)
            if self.cache:
                self._loaded[index] = wav
        return wav

    def _crop(self, wav, generator):
        length = wav.shape[0]
        if length >= self.num_samples:
            start = int(
                torch.randint(
                    length - self.num_samples + 1, (1,), generator=generator
                )
            )
            return wav[start : start + self.num_samples]
        offset = int(torch.randint(length, (1,), generator=generator))
        positions = (torch.arange(self.num_samples) + offset) % length
        return wav[positions]

    def sample(self, batch_size, generator=None):
        """``[batch_size, num_samples]`` crops of randomly chosen files (random start; a file shorter than
        ``num_samples`` is looped from a random offset). ``generator`` defaults to the bank's own."""
        generator = self._generator if generator is None else generator
        indices = torch.randint(
            len(self.files), (batch_size,), generator=generator
        ).tolist()
        return torch.stack(
            [self._crop(self.load(index), generator) for index in indices]
        )


def coloured_noise(rows, samples, exponent_range=(-2.0, 1.0), generator=None):
    """Gaussian noise whose power spectrum falls or rises as ``f ** exponent``, one exponent per row drawn
    uniformly from ``exponent_range`` (-2 brown, -1 pink, 0 white, 1 blue). ``[rows, samples]``, unit norm.

    Example
    -------
    >>> noise = coloured_noise(4, 16000, exponent_range=(-2.0, -2.0))
    >>> spectrum = torch.fft.rfft(noise).abs().pow(2).mean(dim=0)
    >>> (
    ...     noise.shape,
    ...     bool(spectrum[10:100].mean() > 10 * spectrum[1000:8000].mean()),
    ... )
    (torch.Size([4, 16000]), True)
    """
    white = torch.randn(rows, samples, generator=generator)
    low, high = (float(e) for e in exponent_range)
    exponent = low + (high - low) * torch.rand(rows, 1, generator=generator)
    bins = torch.fft.rfftfreq(samples).clamp_min(
        1.0 / samples
    )  # DC bin shaped as the lowest one
    shaped = torch.fft.irfft(
        torch.fft.rfft(white) * bins.pow(exponent / 2), n=samples
    )
    return unit_norm(shaped)
