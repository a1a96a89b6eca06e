import re

import numpy as np
import pytest
import torch

from interpretability.dissection.captioners import AcousticCaptioner, TransformersAudioCaptioner

SR = 16000


def words(text):
    return set(re.findall(r"[a-z]+", text.lower()))


def tone(hz, seconds=1.5, amplitude=0.5):
    t = np.arange(int(SR * seconds)) / SR
    return amplitude * np.sin(2 * np.pi * hz * t)


def chirp(f0, f1, seconds=1.5):
    t = np.arange(int(SR * seconds)) / SR
    rate = np.log(f1 / f0) / seconds
    return 0.5 * np.sin(2 * np.pi * f0 * (np.exp(rate * t) - 1) / rate)


@pytest.fixture(scope="module")
def captioner():
    return AcousticCaptioner()


def test_rising_and_falling_chirps(captioner):
    rising = captioner.describe(torch.from_numpy(chirp(300, 3000)))
    falling = captioner.describe(chirp(3000, 300))
    assert "rising" in words(rising) and "falling" not in words(rising)
    assert "falling" in words(falling) and "rising" not in words(falling)
    assert "tonal" in words(rising)


def test_white_noise_is_noisy_and_broadband(captioner):
    noise = np.random.default_rng(0).standard_normal(SR * 2) * 0.3
    text = captioner.describe(noise)
    assert "noisy" in words(text) and "broadband" in text
    assert "tonal" not in words(text)


def test_pitch_height_of_tones(captioner):
    high, low = captioner.describe(tone(4000)), captioner.describe(tone(200))
    assert "high" in words(high) and "low" not in words(high)
    assert "low" in words(low) and "high" not in words(low)
    assert "steady" in words(high) and "single" in words(high)


def test_loudness_rhythm_silence_and_determinism(captioner):
    assert "quiet" in words(captioner.describe(tone(1000, amplitude=0.003)))
    assert "very loud" in captioner.describe(tone(1000, amplitude=0.9))
    clicks = np.zeros(SR * 2)
    rng = np.random.default_rng(1)
    for k in range(8):
        start = int(k * 0.25 * SR) + 1000
        clicks[start:start + 400] = rng.standard_normal(400) * 0.5
    features = captioner.measure(clicks)
    assert len(features.onset_times) == 8
    assert np.allclose(np.diff(features.onset_times), 0.25, atol=0.02)
    text = captioner.describe(clicks)
    assert "regular" in words(text) and "several" in words(text)
    assert captioner.describe(clicks) == text
    assert captioner.describe(np.zeros(SR)) == "The clip is silent."
    sentences = [s for s in text.split(".") if s.strip()]
    assert 2 <= len(sentences) <= 4


def test_captioner_input_validation(captioner):
    with pytest.raises(ValueError, match="mono"):
        captioner.describe(torch.zeros(2, 100))
    with pytest.raises(ValueError, match="NaN"):
        captioner.describe(torch.tensor([0.0, float("nan")] * 600))


def test_audio_language_captioner_validates_arguments():
    with pytest.raises(ValueError, match="prompt"):
        TransformersAudioCaptioner("unused", prompt="  ")
    with pytest.raises(ValueError, match="max_new_tokens"):
        TransformersAudioCaptioner("unused", max_new_tokens=0)


def _tiny_qwen2_audio(folder):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (PreTrainedTokenizerFast, Qwen2AudioConfig, Qwen2AudioForConditionalGeneration,
                              Qwen2AudioProcessor, WhisperFeatureExtractor)

    special = ["<unk>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>", "<pad>"]
    vocab = {w: i for i, w in enumerate(dict.fromkeys(
        special + "system user assistant you are a helpful what is this sound ? : 1 audio dog loud".split()))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>",
                                        eos_token="<|im_end|>", additional_special_tokens=special[1:6])
    Qwen2AudioProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=16),
                        tokenizer=tokenizer).save_pretrained(folder)
    config = Qwen2AudioConfig(
        audio_config=dict(num_mel_bins=16, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=16, d_model=8,
                          max_source_positions=1500),
        text_config=dict(model_type="qwen2", vocab_size=len(vocab), hidden_size=16, intermediate_size=32,
                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=2048),
        audio_token_index=vocab["<|AUDIO|>"])
    torch.manual_seed(0)
    Qwen2AudioForConditionalGeneration(config).save_pretrained(folder)


def test_tiny_random_qwen2_audio_loads_by_path_and_generates(tmp_path):
    _tiny_qwen2_audio(str(tmp_path))
    captioner = TransformersAudioCaptioner(str(tmp_path), prompt="what is this sound ?", max_new_tokens=4,
                                           device="cpu")
    assert type(captioner.model).__name__ == "Qwen2AudioForConditionalGeneration"
    assert "<|AUDIO|>" in captioner.build_text() and "what is this sound ?" in captioner.build_text()
    captions = captioner.describe_batch([torch.randn(SR), torch.randn(SR // 2)])
    assert len(captions) == 2 and all(isinstance(c, str) for c in captions)
    wav = torch.randn(SR)
    assert captioner.describe(wav) == captioner.describe(wav)  # greedy decoding
