import numpy as np
import pytest
import soundfile as sf
import torch

from interpretability.audio import (
    audio_info,
    pad_or_crop,
    read_audio,
    write_audio,
)
from interpretability.errors import AudioError


def _tone(rate, seconds=0.5, freq=440.0):
    t = np.arange(int(rate * seconds)) / rate
    return 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)


@pytest.mark.parametrize(
    "rate,subtype,channels",
    [
        (16000, "PCM_16", 1),
        (44100, "PCM_24", 2),
        (22050, "FLOAT", 1),
        (48000, "PCM_32", 2),
    ],
)
def test_read_any_format_to_16k_mono(tmp_path, rate, subtype, channels):
    tone = _tone(rate)
    data = np.stack([tone] * channels, axis=1) if channels > 1 else tone
    path = tmp_path / "clip.wav"
    sf.write(path, data, rate, subtype=subtype)
    wav = read_audio(path)
    assert wav.dtype == torch.float32 and wav.dim() == 1
    assert abs(wav.shape[0] - 8000) <= 1
    # the 440 Hz tone survives resampling: its spectral peak stays at 440 Hz
    spectrum = np.abs(np.fft.rfft(wav.numpy()))
    assert abs(np.argmax(spectrum) * 16000 / len(wav) - 440) < 5
    info = audio_info(path)
    assert info["sample_rate"] == rate and info["channels"] == channels


def test_stereo_is_averaged(tmp_path):
    left, right = _tone(16000), np.zeros(8000, dtype=np.float32)
    sf.write(
        tmp_path / "s.wav", np.stack([left, right], 1), 16000, subtype="FLOAT"
    )
    assert torch.allclose(
        read_audio(tmp_path / "s.wav"), torch.from_numpy(left) / 2, atol=1e-6
    )


def test_bad_files_name_the_file(tmp_path):
    with pytest.raises(AudioError, match="missing.wav: audio file not found"):
        read_audio(tmp_path / "missing.wav")
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"this is not a wav file at all")
    with pytest.raises(AudioError, match="garbage.wav: unreadable audio"):
        read_audio(garbage)
    with pytest.raises(AudioError, match="garbage.wav: unreadable audio"):
        audio_info(garbage)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(1600, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="silent.wav: audio is silent"):
        read_audio(silent)
    assert read_audio(silent, allow_silent=True).abs().sum() == 0


def test_pad_or_crop():
    x = torch.arange(5.0)
    assert torch.equal(pad_or_crop(x, 3), torch.tensor([0.0, 1.0, 2.0]))
    assert torch.equal(
        pad_or_crop(x, 7), torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 0.0])
    )
    assert pad_or_crop(torch.zeros(2, 5), 8).shape == (2, 8)


def test_write_audio_round_trip_and_no_clipping(tmp_path):
    tone = torch.from_numpy(_tone(16000))
    write_audio(tmp_path / "out" / "a.wav", tone)
    back = read_audio(tmp_path / "out" / "a.wav")
    assert torch.allclose(back, tone, atol=1e-4)
    write_audio(
        tmp_path / "loud.wav", tone * 4
    )  # peak 2.0: scaled down, never clipped
    loud = read_audio(tmp_path / "loud.wav")
    assert loud.abs().max() <= 1.0
    assert torch.corrcoef(torch.stack([loud, tone]))[0, 1] > 0.9999
