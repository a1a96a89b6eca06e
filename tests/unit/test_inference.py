"""The inference interface and the explain command on a tiny classifier + decoder (no training needed)."""

import numpy as np
import pytest
import soundfile as sf
import torch

from interpretability.brains.training import layer_channels
from interpretability.classifiers import build_classifier
from interpretability.classifiers.io import export_classifier
from interpretability.errors import AudioError, CheckpointError
from interpretability.explain import main as explain_main
from interpretability.inference import Explainer, export_interpreter
from interpretability.interpreters.l2i import L2IInterpreter, L2IPsi, L2ITheta
from interpretability.interpreters.lmac import LMACDecoder


@pytest.fixture(params=["lmac", "l2i"])
def interpreter_dir(tmp_path, request):
    classifier = build_classifier(
        "compact_cnn", n_classes=3, channels=[8, 8, 16, 16]
    ).eval()
    export_classifier(
        classifier,
        tmp_path / "classifier",
        ["tone", "noise", "click"],
        clip_seconds=1.0,
    )
    channels = layer_channels(classifier, 1.0)
    if request.param == "lmac":
        decoder = LMACDecoder(channels, width=16, min_width=8, head_channels=4)
    else:
        dictionary = torch.nn.functional.normalize(
            torch.rand(513, 6, generator=torch.Generator().manual_seed(0)),
            dim=0,
        )
        decoder = L2IInterpreter(
            L2IPsi(channels, 6, width=8),
            L2ITheta(6, 3, attention_dim=4),
            dictionary,
            tau=0.0,
        )
    export_interpreter(
        str(tmp_path / "run" / "interpreter"),
        decoder,
        decoder.config,
        str(tmp_path / "classifier"),
        method=request.param,
    )
    return tmp_path / "run"


def test_explainer_round_trip_and_any_input_format(interpreter_dir, tmp_path):
    explainer = Explainer.from_hparams(
        str(interpreter_dir)
    )  # the run folder is accepted too
    rate = 22050
    t = np.arange(int(rate * 1.3)) / rate
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 700 * t)] * 2, 1)
    sf.write(tmp_path / "clip.wav", stereo, rate, subtype="PCM_24")
    result = explainer.explain_file(str(tmp_path / "clip.wav"))
    samples = int(round(1.3 * 16000))
    assert result["explanation"].shape == (
        samples,
    )  # same length as the 16 kHz input
    assert result["mask"].shape == (samples // 186 + 1, 513)
    assert 0 <= float(result["mask"].min()) and float(result["mask"].max()) <= 1
    assert (
        result["label"] in ("tone", "noise", "click")
        and 0 < result["probability"] <= 1
    )
    # the explanation is the masked input: with the decoder's mask it differs from the input, and an
    # all-ones mask would give the input back
    assert not torch.allclose(result["explanation"], result["wavs"], atol=1e-3)
    # 1.3 s for a classifier of 1 s clips: two half-overlapping windows, their decisions kept and written
    assert [w["start_s"] for w in result["windows"]] == [
        0.0,
        round(26 * 186 / 16000, 4),
    ]
    assert result["windows"][-1]["end_s"] == 1.3
    paths = explainer.save(result, str(tmp_path / "out"), "clip")
    assert [p.split("/")[-1] for p in paths] == [
        "clip_input.wav",
        "clip_explanation.wav",
        "clip.png",
        "clip_decisions.csv",
    ]
    assert sf.info(paths[1]).frames == samples
    assert len(open(paths[3], encoding="utf-8").read().splitlines()) == 3


def test_explain_command(interpreter_dir, tmp_path, capsys):
    sf.write(
        tmp_path / "a.wav",
        0.1 * np.random.default_rng(0).standard_normal(8000),
        8000,
    )
    assert (
        explain_main(
            [
                "--interpreter",
                str(interpreter_dir),
                str(tmp_path / "a.wav"),
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    assert "a.wav:" in capsys.readouterr().out
    assert (tmp_path / "out" / "a_explanation.wav").is_file() and (
        tmp_path / "out" / "a.png"
    ).is_file()
    sf.write(tmp_path / "silent.wav", np.zeros(800), 8000)
    assert (
        explain_main(
            [
                "--interpreter",
                str(interpreter_dir),
                str(tmp_path / "silent.wav"),
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 2
    )
    assert "silent.wav: audio is silent" in capsys.readouterr().err
    assert (
        explain_main(
            [
                "--interpreter",
                str(tmp_path),
                str(tmp_path / "a.wav"),
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "no trained interpreter here" in capsys.readouterr().err


def test_decoder_checkpoint_of_another_model_is_refused(interpreter_dir):
    folder = interpreter_dir / "interpreter"
    other = LMACDecoder(
        {"conv_block4": 16}, width=16, min_width=8, head_channels=4
    )
    torch.save(other.state_dict(), folder / "decoder.ckpt")
    with pytest.raises(
        CheckpointError, match="decoder.ckpt: checkpoint does not match"
    ):
        Explainer.from_hparams(str(folder))


def test_unreadable_file_is_named(interpreter_dir, tmp_path):
    explainer = Explainer.from_hparams(str(interpreter_dir))
    (tmp_path / "bad.wav").write_bytes(b"RIFF....nonsense")
    with pytest.raises(AudioError, match="bad.wav: unreadable audio"):
        explainer.explain_file(str(tmp_path / "bad.wav"))
