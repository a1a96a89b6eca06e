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
    """STFT settings; the defaults are the reference recipe's 23.2 ms / 11.6 ms at 16 kHz.

    Arguments
    ---------
    sample_rate : int
        Sample rate in Hz.
    n_fft : int
        FFT size (``n_fft // 2 + 1`` frequency bins).
    win_length : int
        Hann window length in samples.
    hop_length : int
        Hop between frames in samples.

    Example
    -------
    >>> config = STFTConfig()
    >>> config.n_freqs, config.num_frames(16000)
    (513, 87)
    """

    sample_rate: int = SAMPLE_RATE
    n_fft: int = N_FFT
    win_length: int = WIN_LENGTH
    hop_length: int = HOP_LENGTH

    @property
    def n_freqs(self):
        """Number of frequency bins, ``n_fft // 2 + 1``."""
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
    wav : torch.Tensor
        ``[batch, samples]`` or ``[samples]``.
    config : STFTConfig
        The grid.

    Returns
    -------
    torch.Tensor
        Complex, ``[batch, time, freq]`` (or ``[time, freq]`` for a single clip).

    Example
    -------
    >>> stft(torch.zeros(2, 16000)).shape
    torch.Size([2, 87, 513])
    >>> stft(torch.zeros(16000)).dtype
    torch.complex64
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
    """Magnitude ``|X|`` and phase ``phi`` of the STFT, each ``[batch, time, freq]``.

    Arguments
    ---------
    wav : torch.Tensor
        ``[batch, samples]`` or ``[samples]``.
    config : STFTConfig
        The grid.

    Returns
    -------
    magnitude, phase : torch.Tensor
        Real tensors of the STFT's shape.

    Example
    -------
    >>> magnitude, phase = magnitude_phase(torch.ones(1, 1000))
    >>> magnitude.shape, bool((magnitude >= 0).all())
    (torch.Size([1, 6, 513]), True)
    """
    spec = stft(wav, config)
    return spec.abs(), spec.angle()


def istft(magnitude, phase, length, config=STFTConfig()):
    """Inverse STFT of ``magnitude * exp(i phase)`` to a waveform of ``length`` samples.

    Arguments
    ---------
    magnitude, phase : torch.Tensor
        ``[batch, time, freq]`` or ``[time, freq]``.
    length : int
        Samples of the output.
    config : STFTConfig
        The grid.

    Returns
    -------
    torch.Tensor
        ``[batch, length]`` (or ``[length]``).

    Example
    -------
    >>> wav = torch.sin(torch.arange(8000) * 0.05).unsqueeze(0)
    >>> magnitude, phase = magnitude_phase(wav)
    >>> back = istft(magnitude, phase, length=8000)
    >>> back.shape, bool(torch.allclose(back, wav, atol=1e-4))
    (torch.Size([1, 8000]), True)
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
    published numbers): ``expm1(M * log1p|X|)``.

    Arguments
    ---------
    magnitude : torch.Tensor
        ``|X|``, ``[batch, time, freq]``.
    mask : torch.Tensor
        ``M`` in [0, 1], broadcastable to ``magnitude``.
    domain : str
        ``linear`` or ``log1p``.

    Returns
    -------
    torch.Tensor
        The masked linear magnitude.

    Example
    -------
    >>> magnitude = torch.full((1, 2, 3), 3.0)
    >>> apply_mask(magnitude, torch.full((1, 2, 3), 0.5))[0, 0]
    tensor([1.5000, 1.5000, 1.5000])
    >>> kept = apply_mask(magnitude, torch.ones(1, 2, 3), domain="log1p")
    >>> bool(torch.allclose(kept, magnitude))
    True
    """
    if domain == "linear":
        return mask * magnitude
    if domain == "log1p":
        return torch.expm1(mask * torch.log1p(magnitude))
    raise ValueError(
        f"mask domain must be one of {MASK_DOMAINS}, got {domain!r}"
    )


def listenable(
    magnitude, phase, mask, length, domain="linear", config=STFTConfig()
):
    """The waveform of a masked spectrogram, the same length as the input: ``ISTFT(masked |X|, phi)``.

    Arguments
    ---------
    magnitude, phase : torch.Tensor
        ``[batch, time, freq]``, from :func:`magnitude_phase`.
    mask : torch.Tensor
        ``[batch, time, freq]`` in [0, 1].
    length : int
        Samples of the output (the input's).
    domain : str
        ``linear`` or ``log1p`` (see :func:`apply_mask`).
    config : STFTConfig
        The grid.

    Returns
    -------
    torch.Tensor
        ``[batch, length]``: what the mask lets through, heard with the input's phase.

    Example
    -------
    >>> wav = torch.randn(1, 4000)
    >>> magnitude, phase = magnitude_phase(wav)
    >>> silent = listenable(magnitude, phase, torch.zeros_like(magnitude), 4000)
    >>> silent.shape, float(silent.abs().max())
    (torch.Size([1, 4000]), 0.0)
    """
    return istft(apply_mask(magnitude, mask, domain), phase, length, config)


class MelFrontEnd(torch.nn.Module):
    """``log1p(mel(|X|))``: magnitude ``[batch, time, freq]`` to ``[batch, time, n_mels]``.

    Uses SpeechBrain's triangular filterbank (linear output, no dB), so classifiers trained with
    SpeechBrain's interpretation recipes see the same features.

    Arguments
    ---------
    n_mels : int
        Mel bands.
    config : STFTConfig
        The grid of the magnitudes it reads.
    f_min, f_max : float
        Band edges in Hz (``f_max`` None: half the sample rate).

    Example
    -------
    >>> front_end = MelFrontEnd()
    >>> magnitude, _ = magnitude_phase(torch.randn(2, 16000))
    >>> front_end(magnitude).shape
    torch.Size([2, 87, 80])
    """

    def __init__(
        self, n_mels=N_MELS, config=STFTConfig(), f_min=0.0, f_max=None
    ):
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
        """``[batch, time, freq]`` magnitude to ``[batch, time, n_mels]`` log1p mel energies."""
        return torch.log1p(torch.matmul(magnitude, self.fbank_matrix))
