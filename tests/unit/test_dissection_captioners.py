import re

import numpy as np
import pytest
import torch

from interpretability.dissection.captioners import (
    AcousticCaptioner,
    TransformersAudioCaptioner,
    _noise_floor,
    _periodicity,
    _smooth,
)

SR = 16000


def words(text):
    return set(re.findall(r"[a-z]+", text.lower()))


def in_noise(event, seconds=2.0, onset=0.5, noise_db=-35.0, seed=0):
    """``event`` placed at ``onset`` in white background noise ``noise_db`` dB under full scale."""
    rng = np.random.default_rng(seed)
    clip = rng.standard_normal(int(SR * seconds)) * 10 ** (noise_db / 20)
    start = int(onset * SR)
    clip[start : start + len(event)] += event[: len(clip) - start]
    return clip


def envelope(n, fade=0.01):
    e = np.ones(n)
    k = int(fade * SR)
    e[:k], e[-k:] = np.linspace(0, 1, k), np.linspace(1, 0, k)
    return e


def tone(hz, seconds=0.8, amplitude=0.3):
    t = np.arange(int(SR * seconds)) / SR
    return amplitude * np.sin(2 * np.pi * hz * t) * envelope(len(t))


def chirp(f0, f1, seconds=0.8):
    t = np.arange(int(SR * seconds)) / SR
    rate = np.log(f1 / f0) / seconds
    return (
        0.3
        * np.sin(2 * np.pi * f0 * (np.exp(rate * t) - 1) / rate)
        * envelope(len(t))
    )


def band_noise(low, high, seconds=0.8, seed=1):
    spectrum = np.fft.rfft(
        np.random.default_rng(seed).standard_normal(int(SR * seconds))
    )
    freqs = np.fft.rfftfreq(int(SR * seconds), 1 / SR)
    spectrum[(freqs < low) | (freqs > high)] = 0
    wave = np.fft.irfft(spectrum, int(SR * seconds))
    return 0.3 * wave / np.abs(wave).max() * envelope(len(wave))


@pytest.fixture(scope="module")
def captioner():
    return AcousticCaptioner()


def kind_of(captioner, wav):
    return captioner.kind(captioner.measure(wav))


def test_noise_floor_and_helpers_on_hand_computed_cases():
    # a bin whose power is constant c: its q-quantile is c, divided by -ln(1 - q)
    floor = _noise_floor(np.full((10, 3), 2.0), 0.1)
    assert np.allclose(floor, 2.0 / -np.log(0.9))
    assert np.allclose(_smooth(np.array([0.0, 3.0, 0.0]), 3), [1.5, 1.0, 1.5])
    values = np.tile([1.0, 0.0, 0.0, 0.0], 25)  # period 4
    peak, lag = _periodicity(values, min_lag=2, max_lag=10)
    assert lag == 4 and peak == pytest.approx(
        96 / 100, abs=1e-9
    )  # acf at lag 4: 96 of 100 terms overlap
    assert _periodicity(np.arange(20.0), 2, 8) == (
        0.0,
        None,
    )  # a ramp has no period


def test_rising_and_falling_chirps(captioner):
    rising = captioner.describe(torch.from_numpy(in_noise(chirp(300, 1500))))
    falling = captioner.describe(in_noise(chirp(1500, 300)))
    assert rising.startswith("An upward glide") and "falling" not in words(
        rising
    )
    assert falling.startswith("A downward glide") and "rising" not in words(
        falling
    )
    assert "tonal" in words(rising)


def test_pure_tone_pitch_height_and_duration(captioner):
    high, low = (
        captioner.measure(in_noise(tone(3000))),
        captioner.measure(in_noise(tone(300))),
    )
    assert captioner.kind(high) == captioner.kind(low) == "steady tone"
    assert high.pitch_hz == pytest.approx(
        3000, rel=0.01
    ) and low.pitch_hz == pytest.approx(300, rel=0.02)
    assert high.event_seconds == pytest.approx(0.8, abs=0.1)
    text = captioner.describe(in_noise(tone(3000)))
    assert (
        "high-pitched" in text
        and "steady" in words(text)
        and "single short event" in text
    )


def test_harmonic_am_and_fm_tones(captioner):
    t = np.arange(int(SR * 0.8)) / SR
    stack = sum(
        0.3 / n * np.sin(2 * np.pi * 200 * n * t) for n in range(1, 6)
    ) * envelope(len(t))
    features = captioner.measure(in_noise(stack))
    assert (
        captioner.kind(features) == "overtone series"
        and features.n_partials == 5
    )
    assert features.pitch_hz == pytest.approx(200, rel=0.02)
    am = (
        0.3
        * (1 + np.sin(2 * np.pi * 10 * t))
        / 2
        * np.sin(2 * np.pi * 1000 * t)
        * envelope(len(t))
    )
    features = captioner.measure(in_noise(am))
    assert captioner.kind(
        features
    ) == "loudness tremolo" and features.modulation_hz == pytest.approx(
        10, rel=0.1
    )
    fm = (
        0.3
        * np.sin(
            2 * np.pi * 1000 * t + 0.1 * 1000 / 6 * np.sin(2 * np.pi * 6 * t)
        )
        * envelope(len(t))
    )
    assert kind_of(captioner, in_noise(fm)) == "pitch vibrato"


def test_noisy_kinds(captioner):
    assert (
        kind_of(captioner, in_noise(band_noise(1000, 3000)))
        == "unpitched noise"
    )
    assert kind_of(captioner, in_noise(band_noise(30, 200))) == "low noise band"
    clicks = np.zeros(int(SR * 1.0))
    rng = np.random.default_rng(2)
    for k in range(10):  # 10 clicks per second, 4 ms each
        start = int(k * 0.1 * SR) + 200
        clicks[start : start + 64] = rng.standard_normal(64) * 0.3
    features = captioner.measure(in_noise(clicks))
    assert captioner.kind(
        features
    ) == "pulse series" and features.modulation_hz == pytest.approx(10, rel=0.1)
    gated = band_noise(500, 4000, seconds=1.0) * (
        np.sin(2 * np.pi * 4 * np.arange(SR) / SR) > 0
    )
    assert kind_of(captioner, in_noise(gated)) == "gated noise"
    n = int(0.3 * SR)
    hit = (
        np.random.default_rng(3).standard_normal(n)
        * 0.5
        * np.exp(-np.arange(n) / (0.03 * SR))
    )
    text = captioner.describe(in_noise(hit))
    assert text.startswith("A sharp onset") and "brief" in words(text)


def test_white_noise_filling_the_clip_loudness_silence_and_determinism(
    captioner,
):
    noise = np.random.default_rng(0).standard_normal(SR * 2) * 0.3
    features = captioner.measure(noise)
    assert features.fills_clip and captioner.tonality(features) == "noisy"
    text = captioner.describe(noise)
    assert (
        "broadband" in text
        and "continuous" in words(text)
        and "tonal" not in words(text)
    )
    assert "quiet" in words(
        captioner.describe(tone(1000, seconds=2.0, amplitude=0.003))
    )
    assert "very loud" in captioner.describe(
        tone(1000, seconds=2.0, amplitude=0.9)
    )
    assert captioner.describe(np.zeros(SR)) == "The clip is silent."
    clip = in_noise(chirp(300, 1500))
    assert captioner.describe(clip) == captioner.describe(clip)
    assert (
        len([s for s in captioner.describe(clip).split(".") if s.strip()]) == 3
    )


def named_classes(text):
    """Synthetic class names a text contains as whole-word phrases (with ``_`` as a space, any case or hyphens)."""
    from interpretability.data.synthetic import CLASSES
    from interpretability.dissection.summarizers import normalize_phrase

    padded = f" {normalize_phrase(text)} "
    return [name for name in CLASSES if f" {normalize_phrase(name)} " in padded]


def test_named_classes_helper_catches_every_spelling():
    assert named_classes("A rising chirp: a tone.") == ["rising_chirp"]
    assert named_classes("an AM-tone, a Low_Rumble and a siren") == [
        "am_tone",
        "low_rumble",
        "siren",
    ]
    assert named_classes("a tone whose pitch is rising; it sirens") == []


def test_no_wording_of_the_captioner_names_a_synthetic_class(captioner):
    """Every sentence the captioner can write, over every kind, rate and property word, names no synthetic class."""
    from interpretability.dissection.captioners import KINDS

    assert set(KINDS) == set(captioner._KIND_SENTENCES)
    base = {
        "loudness": "loud",
        "tonality": "tonal",
        "height": "mid-pitched",
        "bandwidth": "mid-band",
        "duration": "short",
    }
    variants = [
        {"loudness": v}
        for v in ("very loud", "loud", "moderately loud", "quiet", "very quiet")
    ]
    variants += [{"tonality": v} for v in ("tonal", "semi-tonal", "noisy")]
    variants += [
        {"height": f"{h}-{u}"}
        for h in ("low", "mid", "high")
        for u in ("pitched", "frequency")
    ]
    variants += [
        {"bandwidth": v} for v in ("narrowband", "mid-band", "broadband")
    ]
    variants += [
        {"direction": v}
        for v in ("rising", "falling", "steady", "wavering", "wobbling")
    ]
    variants += [
        {"duration": v} for v in ("brief", "short", "long", "continuous")
    ]
    texts = [
        " ".join(
            captioner.sentences({**base, **variant, "kind": kind, "rate": rate})
        )
        for kind in KINDS
        for rate in captioner.RATES
        for variant in variants
    ]
    texts.append(" ".join(captioner.sentences({"loudness": "silent"})))
    assert len(texts) == len(KINDS) * 3 * len(variants) + 1
    assert [t for t in texts if named_classes(t)] == []


def test_descriptions_of_synthetic_clips_name_no_class(captioner):
    from interpretability.data.synthetic import CLASSES, render_clip

    rng = np.random.default_rng(0)
    for name in CLASSES:
        for _ in range(2):
            mixture, _, _, _ = render_clip(
                rng, SR, SR, [name], distractor_prob=0.0
            )
            text = captioner.describe(mixture)
            assert not named_classes(text), (name, text)


def test_captioner_input_validation(captioner):
    with pytest.raises(ValueError, match="mono"):
        captioner.describe(torch.zeros(2, 100))
    with pytest.raises(ValueError, match="NaN"):
        captioner.describe(torch.tensor([0.0, float("nan")] * 600))
    with pytest.raises(ValueError, match="floor_quantile"):
        AcousticCaptioner(floor_quantile=0.7)


def test_audio_language_captioner_validates_arguments():
    with pytest.raises(ValueError, match="prompt"):
        TransformersAudioCaptioner("unused", prompt="  ")
    with pytest.raises(ValueError, match="max_new_tokens"):
        TransformersAudioCaptioner("unused", max_new_tokens=0)


def _tiny_qwen2_audio(folder):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2AudioConfig,
        Qwen2AudioForConditionalGeneration,
        Qwen2AudioProcessor,
        WhisperFeatureExtractor,
    )

    special = [
        "<unk>",
        "<|im_start|>",
        "<|im_end|>",
        "<|AUDIO|>",
        "<|audio_bos|>",
        "<|audio_eos|>",
        "<pad>",
    ]
    vocab = {
        w: i
        for i, w in enumerate(
            dict.fromkeys(
                special
                + "system user assistant you are a helpful what is this sound ? : 1 audio dog loud".split()
            )
        )
    }
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        pad_token="<pad>",
        eos_token="<|im_end|>",
        additional_special_tokens=special[1:6],
    )
    Qwen2AudioProcessor(
        feature_extractor=WhisperFeatureExtractor(feature_size=16),
        tokenizer=tokenizer,
    ).save_pretrained(folder)
    config = Qwen2AudioConfig(
        audio_config=dict(
            num_mel_bins=16,
            encoder_layers=1,
            encoder_attention_heads=2,
            encoder_ffn_dim=16,
            d_model=8,
            max_source_positions=1500,
        ),
        text_config=dict(
            model_type="qwen2",
            vocab_size=len(vocab),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=2048,
        ),
        audio_token_index=vocab["<|AUDIO|>"],
    )
    torch.manual_seed(0)
    Qwen2AudioForConditionalGeneration(config).save_pretrained(folder)


def test_tiny_random_qwen2_audio_loads_by_path_and_generates(tmp_path):
    _tiny_qwen2_audio(str(tmp_path))
    captioner = TransformersAudioCaptioner(
        str(tmp_path),
        prompt="what is this sound ?",
        max_new_tokens=4,
        device="cpu",
    )
    assert (
        type(captioner.model).__name__ == "Qwen2AudioForConditionalGeneration"
    )
    assert (
        "<|AUDIO|>" in captioner.build_text()
        and "what is this sound ?" in captioner.build_text()
    )
    captions = captioner.describe_batch([torch.randn(SR), torch.randn(SR // 2)])
    assert len(captions) == 2 and all(isinstance(c, str) for c in captions)
    wav = torch.randn(SR)
    assert captioner.describe(wav) == captioner.describe(wav)  # greedy decoding
