"""Mixtures for L-MAC training and the out-of-domain conditions (docs/methods.md)."""

import re

import numpy as np
import pytest
import soundfile as sf
import torch

from interpretability.audio import read_audio
from interpretability.data.mixtures import (
    ContaminantBank,
    mix_at_snr,
    ood_mixture,
    training_mixture,
    unit_norm,
)
from interpretability.errors import DataError


def snr_db(signal, noise):
    return 10 * torch.log10(signal.pow(2).sum(-1) / noise.pow(2).sum(-1))


def test_unit_norm_rows_and_silence():
    wav = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    assert torch.allclose(
        unit_norm(wav), torch.tensor([[0.6, 0.8], [0.0, 0.0]])
    )
    assert torch.allclose(
        unit_norm(torch.tensor([0.0, 2.0])), torch.tensor([0.0, 1.0])
    )


@pytest.mark.parametrize("snr", [0.0, 5.0, -7.5])
def test_mix_at_snr_gives_the_requested_snr(snr):
    signal = torch.randn(3, 4000, dtype=torch.float64)
    noise = torch.randn(3, 4000, dtype=torch.float64) * 0.1
    mixture = mix_at_snr(signal, noise, snr)
    assert torch.allclose(
        snr_db(signal, mixture - signal),
        torch.full((3,), snr, dtype=torch.float64),
        atol=1e-3,
    )


def test_mix_at_snr_per_row_snr_one_dimensional_and_silent_noise():
    signal, noise = (
        torch.randn(2, 1000, dtype=torch.float64),
        torch.randn(2, 1000, dtype=torch.float64),
    )
    mixture = mix_at_snr(signal, noise, torch.tensor([3.0, -3.0]))
    assert torch.allclose(
        snr_db(signal, mixture - signal),
        torch.tensor([3.0, -3.0], dtype=torch.float64),
        atol=1e-3,
    )
    single = mix_at_snr(signal[0], noise[0], 10.0)
    assert single.shape == (1000,)
    assert snr_db(signal[0], single - signal[0]).item() == pytest.approx(
        10.0, abs=1e-3
    )
    silent = torch.zeros(2, 1000, dtype=torch.float64)
    silent[1] = noise[1]
    mixture = mix_at_snr(signal, silent, 0.0)
    assert torch.isfinite(mixture).all()
    assert torch.equal(mixture[0], signal[0])
    assert snr_db(signal[1], mixture[1] - signal[1]).item() == pytest.approx(
        0.0, abs=1e-3
    )
    with pytest.raises(ValueError, match="one shape"):
        mix_at_snr(signal, noise[:, :10], 0.0)


def test_training_mixture_clean_reference_is_the_clean_part():
    clean = torch.randn(2, 2000, dtype=torch.float64) * 0.3
    contaminant = torch.randn(2, 2000, dtype=torch.float64) * 2
    mixture, reference = training_mixture(clean, contaminant, snr_db=0.0)
    assert torch.allclose(
        mixture.abs().amax(dim=1), torch.ones(2, dtype=torch.float64)
    )
    # the reference is the clean clip scaled like the mixture, and the rest is the contaminant at 0 dB
    scale = reference[:, :1] / clean[:, :1]
    assert torch.allclose(reference, clean * scale)
    residual = mixture - reference
    assert torch.allclose(
        residual / residual.norm(dim=1, keepdim=True),
        contaminant / contaminant.norm(dim=1, keepdim=True),
    )
    assert torch.allclose(
        snr_db(reference, residual),
        torch.zeros(2, dtype=torch.float64),
        atol=1e-3,
    )
    raw, raw_reference = training_mixture(
        clean, contaminant, snr_db=6.0, peak=None
    )
    assert torch.equal(raw_reference, clean)
    assert torch.allclose(
        snr_db(clean, raw - clean),
        torch.full((2,), 6.0, dtype=torch.float64),
        atol=1e-3,
    )


def test_ood_weights_apply_to_unit_norm_signals():
    clean = torch.randn(2, 3000, dtype=torch.float64) * 5
    other = torch.randn(2, 3000, dtype=torch.float64) * 0.01
    mixture = ood_mixture(
        clean, "other_class_mixture", other=other, peak_normalize=False
    )
    assert torch.allclose(
        mixture,
        0.8 * clean / clean.norm(dim=1, keepdim=True)
        + 0.2 * other / other.norm(dim=1, keepdim=True),
    )
    speech = ood_mixture(
        clean, "speech_mixture", speech=other, peak_normalize=False
    )
    assert torch.allclose(speech, mixture)

    noisy, clean_part = ood_mixture(
        clean,
        "white_noise",
        generator=torch.Generator().manual_seed(1),
        peak_normalize=False,
        return_clean=True,
    )
    assert torch.allclose(clean_part, clean / clean.norm(dim=1, keepdim=True))
    assert torch.allclose(
        (noisy - clean_part).norm(dim=1),
        torch.full((2,), 0.5, dtype=torch.float64),
    )

    peaked, peaked_clean = ood_mixture(
        clean, "other_class_mixture", other=other, return_clean=True
    )
    assert torch.allclose(
        peaked.abs().amax(dim=1), torch.ones(2, dtype=torch.float64)
    )
    ratio = peaked / mixture
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio))
    assert torch.allclose(peaked_clean, 0.8 * unit_norm(clean) * ratio[:, :1])


def test_ood_white_noise_is_deterministic_with_a_seeded_generator_and_inputs_are_checked():
    clean = torch.randn(2, 500)
    first = ood_mixture(
        clean, "white_noise", generator=torch.Generator().manual_seed(3)
    )
    second = ood_mixture(
        clean, "white_noise", generator=torch.Generator().manual_seed(3)
    )
    other = ood_mixture(
        clean, "white_noise", generator=torch.Generator().manual_seed(4)
    )
    assert torch.equal(first, second)
    assert not torch.equal(first, other)
    with pytest.raises(ValueError, match="other"):
        ood_mixture(clean, "other_class_mixture")
    with pytest.raises(ValueError, match="unknown OOD condition"):
        ood_mixture(clean, "reverb")


@pytest.fixture
def contaminant_folder(tmp_path):
    folder = tmp_path / "noise"
    (folder / "sub").mkdir(parents=True)
    sf.write(
        folder / "long.wav",
        np.linspace(-0.5, 0.5, 1000),
        16000,
        subtype="PCM_16",
    )
    sf.write(
        folder / "sub" / "short.WAV",
        np.linspace(0.1, 0.9, 100),
        16000,
        subtype="PCM_16",
    )
    sf.write(
        folder / "slow.wav", np.linspace(-0.2, 0.2, 400), 8000, subtype="PCM_16"
    )
    (folder / "notes.txt").write_text("not audio")
    return folder


def test_bank_finds_wavs_recursively_and_resamples(contaminant_folder):
    bank = ContaminantBank(str(contaminant_folder), num_samples=300)
    assert len(bank) == 3
    lengths = {
        path.rsplit("/", 1)[-1]: bank.load(i).shape[0]
        for i, path in enumerate(bank.files)
    }
    assert lengths == {"long.wav": 1000, "short.WAV": 100, "slow.wav": 800}


def test_bank_crops_are_contiguous_and_short_files_loop(contaminant_folder):
    long_file, short_file = (
        str(contaminant_folder / "long.wav"),
        str(contaminant_folder / "sub" / "short.WAV"),
    )
    long_wav, short_wav = read_audio(long_file), read_audio(short_file)
    crops = ContaminantBank([long_file], num_samples=300).sample(4)
    assert crops.shape == (4, 300)
    for crop in crops:
        start = int(torch.nonzero(long_wav == crop[0])[0])
        assert torch.equal(crop, long_wav[start : start + 300])
    loops = ContaminantBank([short_file], num_samples=250).sample(3)
    assert loops.shape == (3, 250)
    for crop in loops:
        offset = int(torch.nonzero(short_wav == crop[0])[0])
        assert torch.equal(crop, short_wav[(torch.arange(250) + offset) % 100])


def test_bank_is_deterministic(contaminant_folder):
    first = ContaminantBank(str(contaminant_folder), 300).sample(
        5, generator=torch.Generator().manual_seed(7)
    )
    second = ContaminantBank(str(contaminant_folder), 300).sample(
        5, generator=torch.Generator().manual_seed(7)
    )
    assert torch.equal(first, second)
    folder = str(contaminant_folder)
    own_a, own_b = (
        ContaminantBank(folder, 300, seed=2),
        ContaminantBank(folder, 300, seed=2),
    )
    assert torch.equal(own_a.sample(5), own_b.sample(5))
    other_seed = ContaminantBank(folder, 300, seed=3)
    assert not torch.equal(
        ContaminantBank(folder, 300, seed=2).sample(5), other_seed.sample(5)
    )


def test_bank_raises_data_error_naming_an_empty_or_missing_folder(tmp_path):
    empty = tmp_path / "empty_noise"
    empty.mkdir()
    (empty / "readme.txt").write_text("no audio here")
    with pytest.raises(DataError, match=re.escape(str(empty))):
        ContaminantBank(str(empty), 100)
    with pytest.raises(DataError, match="not found"):
        ContaminantBank(str(tmp_path / "missing"), 100)
    with pytest.raises(DataError, match="empty"):
        ContaminantBank([], 100)
