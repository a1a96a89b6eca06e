"""The front end shared by every method (docs/methods.md, "Front end").

STFT magnitude and phase on the linear grid ``[batch, time, freq]`` (time first), the classifier's
``log1p(mel80(|X|))`` input, masking in the linear or log1p domain, and inverse STFT with the input's
phase so that every mask can be heard.
"""
from dataclasses import dataclass

import torch

from speechbrain.processing.features import Filterbank

N_FFT = 1024
WIN_LENGTH = 372
HOP_LENGTH = 186
N_MELS = 80
SAMPLE_RATE = 16000
MASK_DOMAINS = ("linear", "log1p")


@dataclass(frozen=True)
class STFTConfig:
    """STFT settings; the defaults are the reference recipe's 23.2 ms / 11.6 ms at 16 kHz."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = N_FFT
    win_length: int = WIN_LENGTH
    hop_length: int = HOP_LENGTH

    @property
    def n_freqs(self):
        return self.n_fft // 2 + 1

    def num_frames(self, num_samples):
        """Number of STFT frames for a signal of ``num_samples`` (centred frames)."""
        return num_samples // self.hop_length + 1


def _window(config, device, dtype):
    return torch.hann_window(config.win_length, device=device, dtype=dtype)


def stft(wav, config=STFTConfig()):
    """Complex STFT.

    Arguments
    ---------
    wav : torch.Tensor, ``[batch, samples]`` or ``[samples]``

    Returns
    -------
    torch.Tensor, complex, ``[batch, time, freq]`` (or ``[time, freq]`` for a single clip)
    """
    single = wav.dim() == 1
    if single:
        wav = wav.unsqueeze(0)
    spec = torch.stft(
        wav,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        win_length=config.win_length,
        window=_window(config, wav.device, wav.dtype),
        center=True,
        pad_mode="constant",
        return_complex=True,
    ).transpose(1, 2)
    return spec[0] if single else spec


def magnitude_phase(wav, config=STFTConfig()):
    """Magnitude ``|X|`` and phase ``phi`` of the STFT, each ``[batch, time, freq]``."""
    spec = stft(wav, config)
    return spec.abs(), spec.angle()


def istft(magnitude, phase, length, config=STFTConfig()):
    """Inverse STFT of ``magnitude * exp(i phase)`` to a waveform of ``length`` samples.

    ``magnitude``, ``phase``: ``[batch, time, freq]`` or ``[time, freq]``; returns ``[batch, length]``
    or ``[length]``.
    """
    single = magnitude.dim() == 2
    if single:
        magnitude, phase = magnitude.unsqueeze(0), phase.unsqueeze(0)
    spec = torch.polar(magnitude.float(), phase.float()).transpose(1, 2)
    wav = torch.istft(
        spec,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        win_length=config.win_length,
        window=_window(config, magnitude.device, torch.float32),
        center=True,
        length=length,
    )
    return wav[0] if single else wav


def apply_mask(magnitude, mask, domain="linear"):
    """Mask a magnitude spectrogram and return a linear magnitude.

    ``linear`` (default): ``M * |X|``. ``log1p`` (the reference recipe's domain, for comparisons with
    published numbers): ``expm1(M * log1p|X|)``. Shapes broadcast; ``[batch, time, freq]``.
    """
    if domain == "linear":
        return mask * magnitude
    if domain == "log1p":
        return torch.expm1(mask * torch.log1p(magnitude))
    raise ValueError(f"mask domain must be one of {MASK_DOMAINS}, got {domain!r}")


def listenable(magnitude, phase, mask, length, domain="linear", config=STFTConfig()):
    """The waveform of a masked spectrogram, the same length as the input: ``ISTFT(masked |X|, phi)``."""
    return istft(apply_mask(magnitude, mask, domain), phase, length, config)


class MelFrontEnd(torch.nn.Module):
    """``log1p(mel(|X|))``: magnitude ``[batch, time, freq]`` to ``[batch, time, n_mels]``.

    Uses SpeechBrain's triangular filterbank (linear output, no dB), so classifiers trained with
    SpeechBrain's interpretation recipes see the same features.
    """

    def __init__(self, n_mels=N_MELS, config=STFTConfig(), f_min=0.0, f_max=None):
        super().__init__()
        self.filterbank = Filterbank(
            n_mels=n_mels,
            n_fft=config.n_fft,
            sample_rate=config.sample_rate,
            f_min=f_min,
            f_max=f_max if f_max is not None else config.sample_rate / 2,
            log_mel=False,
            freeze=True,
        )
        self.n_mels = n_mels
        # The filterbank is frozen, so its [freq, n_mels] matrix is computed once (SpeechBrain's module rebuilds
        # it on every call); non-persistent, so checkpoints keep the module's keys.
        with torch.no_grad():
            matrix = self.filterbank(torch.eye(config.n_freqs).unsqueeze(0))[0]
        self.register_buffer("fbank_matrix", matrix, persistent=False)

    def forward(self, magnitude):
        return torch.log1p(torch.matmul(magnitude, self.fbank_matrix))
