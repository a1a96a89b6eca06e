"""L-MAC's training augmentations (time shift, random gain, coloured noise): training clips and their clean
sources change together, evaluation clips are untouched."""

import types

import torch

import speechbrain as sb
from interpretability.brains.lmac import LMACBrain, circular_shift
from interpretability.brains.training import layer_channels
from interpretability.classifiers import build_classifier
from interpretability.interpreters.lmac import LMACDecoder


class _Batch(types.SimpleNamespace):
    def to(self, device):
        return self


def _brain(time_shift, contaminant_prob=0.0, gain_db=0.0, noise=None):
    torch.manual_seed(0)
    classifier = build_classifier(
        "compact_cnn", n_classes=3, channels=[8, 8, 16, 16]
    ).eval()
    decoder = LMACDecoder(
        layer_channels(classifier, 0.5), width=16, min_width=8, head_channels=4
    )
    hparams = {
        "time_shift": time_shift,
        "gain_db": gain_db,
        "contaminant_prob": contaminant_prob,
        "guidance_weight": 0.0,
        "mask_domain": "linear",
        **(noise or {}),
    }
    return LMACBrain(classifier, modules={"decoder": decoder}, hparams=hparams)


def _batch():
    wavs = torch.randn(4, 8000)
    clean = wavs * 0.5
    return _Batch(
        sig=types.SimpleNamespace(data=wavs),
        clean_sig=types.SimpleNamespace(data=clean),
    )


def _is_rotation(shifted, original):
    return any(
        torch.equal(shifted, original.roll(k)) for k in range(original.numel())
    )


def test_training_clips_and_their_clean_sources_are_rotated_together():
    brain, batch = _brain(time_shift=True), _batch()
    torch.manual_seed(1)
    view = brain.make_view(batch, sb.Stage.TRAIN)
    wavs = batch.sig.data
    assert not torch.equal(
        view.wavs, wavs
    )  # 4 offsets of 8000 drawn: all zero has probability 8000**-4
    for row in range(4):
        assert _is_rotation(view.wavs[row], wavs[row])
        assert torch.allclose(view.clean[row], view.wavs[row] * 0.5)


def test_evaluation_clips_are_not_shifted():
    brain, batch = _brain(time_shift=True), _batch()
    for stage in (sb.Stage.VALID, sb.Stage.TEST):
        assert torch.equal(brain.make_view(batch, stage).wavs, batch.sig.data)


def test_off_by_default_training_sees_the_clips():
    brain, batch = _brain(time_shift=False), _batch()
    assert torch.equal(
        brain.make_view(batch, sb.Stage.TRAIN).wavs, batch.sig.data
    )


def test_multilabel_clean_sources_rotate_with_their_clip():
    wavs = torch.arange(12.0).reshape(2, 6)
    per_class = torch.stack([wavs, -wavs], dim=1)  # [B, C, N]
    shifted, clean = circular_shift(wavs, per_class)
    assert torch.equal(clean[:, 0], shifted) and torch.equal(
        clean[:, 1], -shifted
    )


def test_random_gain_scales_each_training_clip_and_its_clean_source():
    brain, batch = _brain(time_shift=False, gain_db=12.0), _batch()
    torch.manual_seed(2)
    view = brain.make_view(batch, sb.Stage.TRAIN)
    wavs = batch.sig.data
    gain = view.wavs.norm(dim=1) / wavs.norm(dim=1)
    decibels = 20 * torch.log10(gain)
    assert bool((decibels.abs() <= 12.0 + 1e-4).all()) and decibels.std() > 0.5
    assert torch.allclose(view.wavs, wavs * gain[:, None], atol=1e-6)
    assert torch.allclose(view.clean, view.wavs * 0.5, atol=1e-6)
    assert torch.equal(brain.make_view(batch, sb.Stage.VALID).wavs, wavs)


def test_coloured_noise_is_mixed_at_an_snr_of_the_range_and_the_clean_source_kept():
    noise = {"noise_prob": 1.0, "noise_snr_db": [3.0, 9.0]}
    brain, batch = _brain(time_shift=False, noise=noise), _batch()
    torch.manual_seed(3)
    view = brain.make_view(batch, sb.Stage.TRAIN)
    wavs = batch.sig.data
    added = view.wavs - wavs
    snr_db = 10 * torch.log10(wavs.pow(2).sum(1) / added.pow(2).sum(1))
    assert bool(((snr_db >= 3.0 - 1e-3) & (snr_db <= 9.0 + 1e-3)).all())
    assert snr_db.std() > 0.1  # one SNR per clip
    assert torch.equal(
        view.clean, batch.clean_sig.data
    )  # the event is the same
    assert torch.equal(brain.make_view(batch, sb.Stage.VALID).wavs, wavs)


def test_no_clip_gets_noise_at_share_zero():
    noise = {"noise_prob": 0.0, "noise_snr_db": [3.0, 9.0]}
    brain, batch = _brain(time_shift=False, noise=noise), _batch()
    assert torch.equal(
        brain.make_view(batch, sb.Stage.TRAIN).wavs, batch.sig.data
    )


def test_coloured_noise_slopes():
    """A white row is flat, a brown row falls by about 20 dB a decade (power ~ f^-2)."""
    from interpretability.data.mixtures import coloured_noise

    generator = torch.Generator().manual_seed(0)
    power = {
        exponent: torch.fft.rfft(
            coloured_noise(8, 16000, (exponent, exponent), generator=generator)
        )
        .abs()
        .pow(2)
        .mean(dim=0)
        for exponent in (0.0, -2.0)
    }
    decade = {  # mean power at 100-200 Hz over that at 1-2 kHz (bins of 1 Hz)
        e: float(p[100:200].mean() / p[1000:2000].mean())
        for e, p in power.items()
    }
    assert 0.8 < decade[0.0] < 1.25
    assert 60 < decade[-2.0] < 160


def _validated(brain, batch):
    return brain.make_view(batch, sb.Stage.VALID).wavs


def test_validation_under_the_training_changes_sees_the_same_clips_every_epoch():
    """``valid_augmented``: validation clips get noise and gain as training clips do, drawn from their ids, so every
    epoch scores the same changed clips; the training's own draws are left as they were."""
    noise = {"noise_prob": 1.0, "noise_snr_db": [3.0, 9.0]}
    brain, batch = _brain(time_shift=False, gain_db=12.0, noise=noise), _batch()
    batch.id = ["a", "b", "c", "d"]
    assert torch.equal(
        _validated(brain, batch), batch.sig.data
    )  # off by default
    brain.hparams.valid_augmented = True
    torch.manual_seed(5)
    first = _validated(brain, batch)
    after_first = torch.rand(3)
    torch.manual_seed(6)
    second = _validated(brain, batch)
    torch.manual_seed(5)
    assert torch.equal(
        torch.rand(3), after_first
    )  # the global draws are not consumed
    assert torch.equal(first, second)
    assert not torch.equal(first, batch.sig.data)
    change_db = 20 * torch.log10(
        (first - batch.sig.data).norm(dim=1) / batch.sig.data.norm(dim=1)
    )
    # noise at 9 dB SNR or less and a gain within +-12 dB change each clip by -12 dB of its norm or more; a clip
    # left clean (or given noise far below the SNR range) would be far under that
    assert bool((change_db > -15).all()), change_db
    assert len({round(v, 3) for v in change_db.tolist()}) == len(
        batch.id
    )  # one draw per clip, not one per batch
    batch.id = ["e", "f", "g", "h"]  # other clips, other draws
    assert not torch.equal(_validated(brain, batch), first)
    assert torch.equal(
        brain.make_view(batch, sb.Stage.TEST).wavs, batch.sig.data
    )


def test_fixed_draws_put_a_contaminant_bank_generator_back():
    from interpretability.brains.lmac import fixed_draws

    bank = types.SimpleNamespace(_generator=torch.Generator().manual_seed(9))
    expected = torch.rand(2, generator=torch.Generator().manual_seed(9))
    with fixed_draws(["x"], bank):
        inside = torch.rand(2, generator=bank._generator)
    with fixed_draws(["x"], bank):
        assert torch.equal(torch.rand(2, generator=bank._generator), inside)
    assert torch.equal(torch.rand(2, generator=bank._generator), expected)
