import math

import pytest
import torch

from interpretability.metrics.ground_truth import si_sdr
from interpretability.spectral import (
    MelFrontEnd,
    STFTConfig,
    apply_mask,
    istft,
    listenable,
    magnitude_phase,
    stft,
)


def test_grid_matches_the_reference_front_end():
    mag, phase = magnitude_phase(torch.randn(2, 16000))
    assert mag.shape == (2, 16000 // 186 + 1, 513) == phase.shape
    assert STFTConfig().num_frames(16000) == mag.shape[1]


@pytest.mark.parametrize("length", [16000, 32123])
def test_istft_of_stft_recovers_the_signal(length):
    x = torch.randn(3, length)
    mag, phase = magnitude_phase(x)
    y = istft(mag, phase, length)
    assert y.shape == x.shape
    assert torch.all(si_sdr(y, x) > 60)


def test_all_ones_mask_gives_the_input_back_in_both_domains():
    x = torch.randn(2, 8000)
    mag, phase = magnitude_phase(x)
    for domain in ("linear", "log1p"):
        y = listenable(mag, phase, torch.ones_like(mag), 8000, domain=domain)
        assert torch.all(si_sdr(y, x) > 60), domain


def test_mask_domains():
    mag = torch.tensor([[[0.0, 1.0, math.e - 1]]])
    half = torch.full_like(mag, 0.5)
    assert torch.allclose(apply_mask(mag, half, "linear"), mag * 0.5)
    # expm1(0.5 * log1p(e - 1)) = expm1(0.5) = sqrt(e) - 1
    assert torch.allclose(
        apply_mask(mag, half, "log1p")[0, 0, 2],
        torch.tensor(math.sqrt(math.e) - 1),
    )
    assert torch.equal(
        apply_mask(mag, torch.zeros_like(mag), "log1p"), torch.zeros_like(mag)
    )
    with pytest.raises(ValueError, match="mask domain"):
        apply_mask(mag, half, "mel")


def test_batch_and_single_clip_paths_agree():
    x = torch.randn(2, 4000)
    mag_b, phase_b = magnitude_phase(x)
    mag_0, phase_0 = magnitude_phase(x[0])
    assert torch.allclose(mag_b[0], mag_0, atol=1e-5)
    assert torch.allclose(stft(x)[1], stft(x[1]), atol=1e-5)
    y_b = istft(mag_b, phase_b, 4000)
    assert torch.allclose(y_b[0], istft(mag_0, phase_0, 4000), atol=1e-5)
    front = MelFrontEnd()
    assert torch.allclose(front(mag_b)[1], front(mag_b[1:2])[0], atol=1e-5)


def test_mel_front_end_is_log1p_of_a_nonnegative_filterbank():
    front = MelFrontEnd()
    mag = torch.rand(1, 10, 513)
    feats = front(mag)
    assert feats.shape == (1, 10, 80)
    assert torch.all(feats >= 0)
    assert torch.equal(front(torch.zeros(1, 3, 513)), torch.zeros(1, 3, 80))
    # a 1 kHz tone lights up a mel band near 1 kHz, not the lowest or highest band
    t = torch.arange(16000) / 16000
    tone_mag, _ = magnitude_phase(torch.sin(2 * math.pi * 1000 * t))
    band = front(tone_mag.unsqueeze(0)).mean(dim=1).argmax().item()
    assert 20 < band < 50


def test_mel_front_end_caches_speechbrains_filterbank_exactly():
    front = MelFrontEnd()
    mag = torch.rand(2, 7, 513) * 5
    assert torch.allclose(
        front(mag), torch.log1p(front.filterbank(mag)), atol=1e-6
    )
    # the cached matrix is not saved, so checkpoints written before the cache still load
    assert "fbank_matrix" not in front.state_dict()
