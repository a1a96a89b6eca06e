"""PANNs' log-mel front end computed from our magnitude spectrogram, so that masks stay on our STFT grid.

PANNs' ``Cnn14_16k`` (Kong et al. 2020) computes, from the 16 kHz waveform: an STFT with a 512-sample periodic
Hann window, n_fft 512, hop 160, centred frames with reflect padding; the power ``|X|^2``; 64 slaney mel bands
50-8000 Hz (librosa's filters, stored in the checkpoint as ``logmel_extractor.melW`` ``[257, 64]``); and
``10 log10(max(mel, 1e-10))`` (ref 1, no top_db). ``bn0`` then normalises each mel band (it is the encoder's
``norm0`` here).

Every method of this toolkit masks the classifier's input on one grid (n_fft 1024, window 372, hop 186;
:mod:`interpretability.spectral`) and hears the mask as ``ISTFT(M * |X|, phase)``. :class:`PANNsLogMel` is
therefore a *magnitude -> log-mel* map, like AST's front end: the power of our grid, scaled to the power density
of PANNs' frames, is projected on the checkpoint's own mel filters (interpolated onto our 513 bins), frames are
resampled from our hop (186) to PANNs' hop (160) by linear interpolation between frame centres, and the dB
conversion is PANNs'. A mask that removes a time-frequency region removes exactly its energy from the mel bands
the network sees. The cost is an approximation of PANNs' own front end (our 23 ms window is shorter than its
32 ms one, so low bands are smeared more): tests/unit/test_pretrained_classifiers.py measures it against PANNs'
waveform front end.
"""

import math

import torch
import torch.nn as nn

from interpretability.spectral import STFTConfig


def _hz_to_mel(hz):
    """Slaney's mel scale (librosa's default): linear below 1 kHz, logarithmic above."""
    hz = torch.as_tensor(hz, dtype=torch.float64, device="cpu")
    linear = hz / (200.0 / 3)
    logstep = math.log(6.4) / 27.0
    return torch.where(
        hz >= 1000.0,
        15.0 + torch.log(torch.clamp(hz, min=1e-12) / 1000.0) / logstep,
        linear,
    )


def _mel_to_hz(mel):
    mel = torch.as_tensor(mel, dtype=torch.float64, device="cpu")
    logstep = math.log(6.4) / 27.0
    return torch.where(
        mel >= 15.0,
        1000.0 * torch.exp(logstep * (mel - 15.0)),
        mel * (200.0 / 3),
    )


def slaney_mel_filters(sample_rate, n_fft, n_mels, f_min, f_max):
    """librosa's default mel filterbank (slaney scale, slaney area normalisation): ``[n_fft // 2 + 1, n_mels]``."""
    freqs = torch.linspace(
        0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64, device="cpu"
    )
    edges = _mel_to_hz(
        torch.linspace(
            float(_hz_to_mel(f_min)),
            float(_hz_to_mel(f_max)),
            n_mels + 2,
            dtype=torch.float64,
            device="cpu",
        )
    )
    widths = edges[1:] - edges[:-1]
    ramps = edges[:, None] - freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = torch.clamp(torch.minimum(lower, upper), min=0.0)
    weights = weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.T.float().contiguous()


def _periodic_hann_energy(length):
    return float(
        torch.hann_window(
            int(length), periodic=True, dtype=torch.float64, device="cpu"
        )
        .pow(2)
        .sum()
    )


class PANNsLogMel(nn.Module):
    """Magnitude ``[B, T, F]`` on our grid -> PANNs' log-mel ``[B, T_p, n_mels]`` (dB).

    ``T_p``: PANNs' frames (one every 160 samples) up to the centre of our last frame, ``(T - 1) * 186 // 160 + 1``
    (PANNs itself has ``N // 160 + 1``: one more at most).

    ``melW`` (``[n_fft // 2 + 1, n_mels]``, PANNs' grid) is a buffer saved with the model: loading a PANNs
    checkpoint copies its ``logmel_extractor.melW``; a fresh module holds librosa's filters.
    """

    def __init__(
        self,
        sample_rate=16000,
        n_fft=512,
        win_length=512,
        hop_length=160,
        n_mels=64,
        f_min=50.0,
        f_max=8000.0,
        ref=1.0,
        amin=1e-10,
        top_db=None,
        config=STFTConfig(),
    ):
        super().__init__()
        if int(sample_rate) != config.sample_rate:
            raise ValueError(
                f"PANNs front end at {sample_rate} Hz cannot read our {config.sample_rate} Hz grid"
            )
        self.sample_rate, self.n_fft, self.win_length = (
            int(sample_rate),
            int(n_fft),
            int(win_length),
        )
        self.hop_length, self.n_mels = int(hop_length), int(n_mels)
        self.ref, self.amin, self.top_db = float(ref), float(amin), top_db
        self.stft_config = config
        self.register_buffer(
            "melW", slaney_mel_filters(sample_rate, n_fft, n_mels, f_min, f_max)
        )
        # PANNs' frame power per bin over ours, for the same signal (Parseval: n_fft * window energy)
        self.power_scale = (
            self.n_fft * _periodic_hann_energy(self.win_length)
        ) / (config.n_fft * _periodic_hann_energy(config.win_length))

    def grid_filters(self):
        """``melW`` interpolated (linearly in Hz) onto our ``F`` bins: ``[F, n_mels]``."""
        position = torch.arange(
            self.stft_config.n_freqs,
            device=self.melW.device,
            dtype=self.melW.dtype,
        )
        position = (position * self.n_fft / self.stft_config.n_fft).clamp(
            max=self.melW.shape[0] - 1
        )
        low = position.floor().long()
        high = (low + 1).clamp(max=self.melW.shape[0] - 1)
        share = (position - low.to(position.dtype))[:, None]
        return self.melW[low] * (1 - share) + self.melW[high] * share

    def num_frames(self, stft_frames):
        """PANNs' frame count for a clip whose STFT on our grid has ``stft_frames`` frames."""
        return (
            (stft_frames - 1) * self.stft_config.hop_length
        ) // self.hop_length + 1

    def forward(self, magnitude):
        mel = (
            magnitude.pow(2) * self.power_scale
        ) @ self.grid_filters()  # [B, T, n_mels]
        frames = self.num_frames(mel.shape[1])
        centres = (
            self.hop_length
            * torch.arange(frames, device=mel.device, dtype=mel.dtype)
            / self.stft_config.hop_length
        ).clamp(max=mel.shape[1] - 1)
        low = centres.floor().long()
        high = (low + 1).clamp(max=mel.shape[1] - 1)
        share = (centres - low.to(centres.dtype))[None, :, None]
        mel = mel[:, low] * (1 - share) + mel[:, high] * share
        log_mel = 10.0 * torch.log10(
            torch.clamp(mel, min=self.amin)
        ) - 10.0 * math.log10(max(self.amin, self.ref))
        if self.top_db is not None:
            log_mel = torch.maximum(
                log_mel,
                log_mel.amax(dim=(1, 2), keepdim=True) - float(self.top_db),
            )
        return log_mel
