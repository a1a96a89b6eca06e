"""Explaining files of any length: short ones padded (the padding left out), long ones in overlapping windows."""

import numpy as np
import pytest
import soundfile as sf
import torch

from interpretability.brains.training import layer_channels
from interpretability.classifiers import build_classifier
from interpretability.classifiers.io import export_classifier
from interpretability.explain import main as explain_main
from interpretability.inference import Explainer, export_interpreter
from interpretability.interpreters.lmac import LMACDecoder
from interpretability.spectral import listenable, magnitude_phase

HOP = 186


@pytest.fixture(scope="module")
def interpreter_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("any_length")
    torch.manual_seed(0)
    classifier = build_classifier(
        "compact_cnn", n_classes=3, channels=[8, 8, 16, 16]
    ).eval()
    export_classifier(
        classifier,
        folder / "classifier",
        ["tone", "noise", "click"],
        clip_seconds=1.0,
    )
    decoder = LMACDecoder(
        layer_channels(classifier, 1.0), width=16, min_width=8, head_channels=4
    )
    export_interpreter(
        str(folder / "run" / "interpreter"),
        decoder,
        decoder.config,
        str(folder / "classifier"),
    )
    return folder / "run"


def _noise(seconds, seed=0):
    return torch.from_numpy(
        0.1 * np.random.default_rng(seed).standard_normal(int(16000 * seconds))
    ).float()


def test_a_clip_shorter_than_the_receptive_field_is_padded_and_the_padding_cropped(
    interpreter_dir, tmp_path
):
    explainer = Explainer.from_hparams(str(interpreter_dir))
    wav = _noise(
        0.1
    )  # 1600 samples: 9 STFT frames, fewer than the 16 the four 2x2 poolings need
    with pytest.raises(RuntimeError):
        explainer.classifier.forward_with_hidden(magnitude_phase(wav[None])[0])
    sf.write(tmp_path / "short.wav", wav.numpy(), 16000, subtype="FLOAT")
    result = explainer.explain_file(str(tmp_path / "short.wav"))
    assert result["mask"].shape == (1600 // HOP + 1, 513) and result[
        "explanation"
    ].shape == (1600,)
    assert (
        result["padding_s"] == pytest.approx(0.9)
        and len(result["windows"]) == 1
    )
    # the classifier saw the clip padded to its 1 s clip length; the mask is that explanation, cropped
    padded = explainer.explain_batch(torch.cat([wav, torch.zeros(14400)])[None])
    assert torch.allclose(result["mask"], padded["mask"][0, :9])
    assert result["label"] == explainer.classes[int(padded["decision"][0])]
    magnitude, phase = magnitude_phase(wav)
    assert torch.allclose(
        result["explanation"],
        listenable(magnitude, phase, result["mask"], 1600),
        atol=1e-6,
    )


def test_shortest_input_is_found_from_the_network(interpreter_dir):
    explainer = Explainer.from_hparams(str(interpreter_dir))
    assert (
        explainer.min_samples() == (16 - 1) * HOP
    )  # 4 poolings by 2: 16 frames
    explainer.clip_seconds = (
        None  # no clip length known: padded to the shortest accepted input only
    )
    result = explainer.explain_waveform(_noise(0.05))
    assert result["padding_s"] == pytest.approx(((16 - 1) * HOP - 800) / 16000)
    assert result["mask"].shape == (800 // HOP + 1, 513)


def test_a_long_file_is_explained_in_overlapping_windows(interpreter_dir):
    explainer = Explainer.from_hparams(str(interpreter_dir))
    wav = _noise(3.3, seed=1)
    n = wav.shape[0]
    result = explainer.explain_waveform(wav, overlap=0.5)
    step = 43 * HOP  # half of the 1 s clip, in whole STFT hops
    starts = [
        0,
        step,
        2 * step,
        3 * step,
        4 * step,
        198 * HOP,
    ]  # the last one ends with the file (+28 samples)
    assert [w["start_s"] for w in result["windows"]] == [
        round(s / 16000, 4) for s in starts
    ]
    assert result["windows"][-1]["end_s"] == 3.3
    assert result["mask"].shape == (n // HOP + 1, 513) and result[
        "explanation"
    ].shape == (n,)
    padded = torch.cat([wav, torch.zeros(starts[-1] + 16000 - n)])
    windows = explainer.explain_batch(
        torch.stack([padded[s : s + 16000] for s in starts])
    )
    first, second = windows["mask"][0], windows["mask"][1]
    # frames only the first window covers are its mask; frames two windows cover are their mean
    assert torch.allclose(result["mask"][:43], first[:43], atol=1e-6)
    assert torch.allclose(
        result["mask"][43:86], (first[43:86] + second[:43]) / 2, atol=1e-6
    )
    # every window keeps its own decision; the file's is the mean probability's argmax
    labels = [explainer.classes[int(d)] for d in windows["decision"]]
    assert [w["label"] for w in result["windows"]] == labels
    assert [w["probability"] for w in result["windows"]] == pytest.approx(
        [
            float(windows["probs"][i, d])
            for i, d in enumerate(windows["decision"])
        ]
    )
    assert torch.allclose(result["probs"], windows["probs"].mean(dim=0))
    assert (
        result["label"]
        == explainer.classes[int(windows["probs"].mean(dim=0).argmax())]
    )


def test_a_clip_of_the_clip_length_is_one_window_without_padding(
    interpreter_dir,
):
    explainer = Explainer.from_hparams(str(interpreter_dir))
    wav = _noise(1.0, seed=2)
    result = explainer.explain_waveform(wav)
    direct = explainer.explain_batch(wav[None])
    assert len(result["windows"]) == 1 and result["padding_s"] == 0
    assert torch.allclose(result["mask"], direct["mask"][0]) and torch.allclose(
        result["probs"], direct["probs"][0]
    )


def test_explain_command_prints_the_decision_track(
    interpreter_dir, tmp_path, capsys
):
    sf.write(tmp_path / "long.wav", _noise(2.5, seed=3).numpy(), 16000)
    sf.write(tmp_path / "tiny.wav", _noise(0.1, seed=4).numpy(), 16000)
    assert (
        explain_main(
            [
                "--interpreter",
                str(interpreter_dir),
                str(tmp_path / "long.wav"),
                str(tmp_path / "tiny.wav"),
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert (
        lines[0].startswith(f"{tmp_path / 'long.wav'}: ")
        and "(4 windows, mean p=" in lines[0]
    )
    assert [line.split()[:3] for line in lines[1:5]] == [
        ["0.00", "-", "1.00"],
        ["0.50", "-", "1.50"],
        ["1.00", "-", "2.00"],
        ["1.51", "-", "2.50"],
    ]
    assert (
        lines[5].startswith(f"{tmp_path / 'tiny.wav'}: ") and "(p=" in lines[5]
    )
    track = (tmp_path / "out" / "long_decisions.csv").read_text().splitlines()
    assert track[0] == "start_s,end_s,label,probability" and len(track) == 5
    assert (
        sf.info(str(tmp_path / "out" / "tiny_explanation.wav")).frames == 1600
    )
    assert not (tmp_path / "out" / "tiny_decisions.csv").exists()


def test_window_starts_cover_the_file_on_whole_hops():
    from interpretability.inference import window_starts

    # 2.5 s in 1 s windows: every 43 hops, then one ending with the file (130 hops = 24180 samples >= 40000 - 16000)
    assert window_starts(40000, 16000) == [0, 7998, 15996, 24180]
    assert window_starts(16001, 16000) == [0, 186]
    for n in (16001, 23999, 40000, 52800, 160000):
        for overlap in (0.0, 0.25, 0.5, 0.75):
            starts = window_starts(n, 16000, overlap)
            assert starts[0] == 0 and all(s % HOP == 0 for s in starts)
            assert all(
                b - a <= 16000 for a, b in zip(starts, starts[1:])
            )  # no gap between windows
            assert (
                n <= starts[-1] + 16000 < n + HOP
            )  # the last one ends with the file
