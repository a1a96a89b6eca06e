"""Hostile checkpoints: interpreter folders whose decoder was trained for another classifier,
truncated or empty ``.ckpt`` files, classifier folders of another architecture or class count, folders that lack a
part. Each is one CheckpointError naming the file and the problem (one ``error:`` line and exit status 2 from the
commands), never a traceback or a misleading message."""

import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from hostile_cli import ROOT, one_line_error, run_cli, tiny_esc50

from interpretability.brains.training import layer_channels
from interpretability.classifiers import build_classifier
from interpretability.classifiers.io import export_classifier, load_classifier
from interpretability.classifiers.pretrained import (
    check_classifier_classes,
    load_pretrained_classifier,
)
from interpretability.errors import CheckpointError, InputError
from interpretability.evaluation.explainers import load_trained_explainer
from interpretability.inference import (
    Explainer,
    export_interpreter,
    load_interpreter,
)
from interpretability.interpreters.l2i import L2IInterpreter, L2IPsi, L2ITheta
from interpretability.interpreters.lmac import LMACDecoder

CLASSES = ["tone", "noise", "click"]


def classifier(seed=0, channels=(4, 4, 8, 8), n_classes=3):
    torch.manual_seed(seed)
    return build_classifier(
        "compact_cnn", n_classes=n_classes, channels=list(channels)
    ).eval()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Exported classifiers A, B (A's architecture, other weights), C (wider), D (4 classes) and interpreter
    folders trained (here: built) on A, one L-MAC and one L2I."""
    root = tmp_path_factory.mktemp("hostile_ckpt")
    made = {}
    for name, kwargs in {
        "A": {},
        "B": {"seed": 1},
        "C": {"channels": (8, 8, 16, 16)},
        "D": {"n_classes": 4},
    }.items():
        model = classifier(**kwargs)
        classes = CLASSES + ["hum"] if kwargs.get("n_classes") == 4 else CLASSES
        made[name] = export_classifier(
            model, str(root / name), classes, clip_seconds=0.5
        )
    model_a, _ = load_classifier(made["A"])
    channels = layer_channels(model_a, 0.5)
    decoder = LMACDecoder(channels, width=8, min_width=8, head_channels=4)
    made["lmac"] = export_interpreter(
        str(root / "lmac" / "interpreter"), decoder, decoder.config, made["A"]
    )
    dictionary = torch.nn.functional.normalize(
        torch.rand(513, 6, generator=torch.Generator().manual_seed(0)), dim=0
    )
    l2i = L2IInterpreter(
        L2IPsi(channels, 6, width=8),
        L2ITheta(6, 3, attention_dim=4),
        dictionary,
        tau=0.0,
    )
    made["l2i"] = export_interpreter(
        str(root / "l2i" / "interpreter"),
        l2i,
        l2i.config,
        made["A"],
        method="l2i",
    )
    wav = root / "clip.wav"
    sf.write(
        wav, 0.3 * np.sin(2 * np.pi * 440 * np.arange(8000) / 16000), 16000
    )
    made["wav"] = str(wav)
    return root, made


def damaged(folders, tmp_path, which="lmac"):
    """A private copy of an interpreter folder, free to break."""
    target = tmp_path / which
    shutil.copytree(folders[1][which], target)
    return target


# ------------------------------------------------------------------- interpreter of another classifier


def test_interpreter_with_another_classifier_same_architecture(folders):
    _, made = folders
    other, _ = load_classifier(made["B"])
    with pytest.raises(
        CheckpointError,
        match="this interpreter was trained on the classifier in .* not on",
    ):
        load_trained_explainer(made["lmac"], other, made["B"])
    mine, _ = load_classifier(made["A"])
    load_trained_explainer(
        made["lmac"], mine, made["A"]
    )  # its own classifier: accepted


@pytest.mark.parametrize("which", ["lmac", "l2i"])
def test_interpreter_folder_holding_a_classifier_of_another_architecture(
    folders, tmp_path, which
):
    """Its ``classifier/`` swapped for a wider one: named as such (the explain command said 'the classifier rejects
    inputs of every length tried')."""
    folder = damaged(folders, tmp_path, which)
    shutil.rmtree(folder / "classifier")
    shutil.copytree(folders[1]["C"], folder / "classifier")
    with pytest.raises(CheckpointError) as info:
        Explainer.from_hparams(str(folder))
    message = str(info.value)
    assert message.startswith(
        f"{folder}: its interpreter reads layers {{'conv_block1': 4"
    )
    assert "it was trained for another classifier" in message


def test_interpreter_without_its_classifier_copy(folders, tmp_path):
    """Checked against the layers of the classifier given (no copy to compare with); the explain command, which
    needs the copy, says it is missing (it tried the folder as a Hugging Face id)."""
    folder = damaged(folders, tmp_path)
    shutil.rmtree(folder / "classifier")
    wide, _ = load_classifier(folders[1]["C"])
    with pytest.raises(
        CheckpointError,
        match="its interpreter reads layers .* it was trained for another",
    ):
        load_trained_explainer(str(folder), wide, folders[1]["C"])
    with pytest.raises(
        CheckpointError,
        match=r"/classifier: missing; an interpreter folder holds a copy",
    ):
        Explainer.from_hparams(str(folder))


# ---------------------------------------------------------------------------- damaged interpreter files


@pytest.mark.parametrize("which", ["lmac", "l2i"])
@pytest.mark.parametrize(
    "damage, problem",
    [
        (
            lambda data: data[: len(data) // 2],
            "decoder.ckpt: unreadable checkpoint, truncated or not a torch file",
        ),
        (lambda data: b"", "decoder.ckpt: checkpoint is empty (0 bytes"),
    ],
    ids=["truncated", "empty"],
)
def test_truncated_or_empty_decoder(folders, tmp_path, which, damage, problem):
    folder = damaged(folders, tmp_path, which)
    path = folder / "decoder.ckpt"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointError) as info:
        load_interpreter(str(folder))
    assert (
        str(info.value).startswith(str(path))
        and problem in str(info.value)
        and "\n" not in str(info.value)
    )


def test_missing_or_broken_description(folders, tmp_path):
    folder = damaged(folders, tmp_path)
    (folder / "hyperparams.yaml").write_text("method: lmac\n")
    with pytest.raises(
        CheckpointError,
        match=r"hyperparams.yaml: not an interpreter description \(no 'decoder'",
    ):
        load_interpreter(str(folder))
    (folder / "hyperparams.yaml").write_text(
        "method: lmac\ndecoder: {layer_channels: {a: 1}, bogus: 3}\n"
    )
    with pytest.raises(
        CheckpointError,
        match="hyperparams.yaml: cannot build the decoder it describes",
    ):
        load_interpreter(str(folder))
    (folder / "hyperparams.yaml").unlink()
    with pytest.raises(
        CheckpointError,
        match="hyperparams.yaml: interpreter description not found",
    ):
        load_interpreter(str(folder))


# ------------------------------------------------------------------------------------ classifier folders


def test_truncated_classifier_checkpoint(folders, tmp_path):
    folder = tmp_path / "A"
    shutil.copytree(folders[1]["A"], folder)
    data = (folder / "model.ckpt").read_bytes()
    (folder / "model.ckpt").write_bytes(data[:3000])
    with pytest.raises(
        CheckpointError,
        match=r"model.ckpt: unreadable checkpoint, truncated or not a torch file "
        r"\(RuntimeError: PytorchStreamReader failed",
    ):
        load_pretrained_classifier(str(folder), str(tmp_path / "save"))


def test_classifier_checkpoint_of_another_architecture(folders, tmp_path):
    folder = tmp_path / "A"
    shutil.copytree(folders[1]["A"], folder)
    shutil.copy(folders[1]["C"] + "/model.ckpt", folder / "model.ckpt")
    with pytest.raises(
        CheckpointError,
        match=r"model.ckpt: checkpoint does not match the compact_cnn classifier "
        r"described in hyperparams.yaml \(size mismatch",
    ):
        load_pretrained_classifier(str(folder), str(tmp_path / "save"))


def test_classifier_of_another_class_count(folders, tmp_path):
    _, made = folders
    _, description, _ = load_pretrained_classifier(
        made["D"], str(tmp_path / "save"), classes=CLASSES
    )
    with pytest.raises(
        InputError,
        match=r"the classifier has 4 classes \(tone, noise, click, hum\) but the data in "
        r"DATA has 3",
    ):
        check_classifier_classes(
            made["D"], description["classes"], CLASSES, "DATA"
        )


def test_missing_classifier_path_is_not_looked_up_on_the_hub(
    tmp_path, monkeypatch
):
    """A path that is not there is said to be missing (it was tried as a Hugging Face id, offline: a message about
    the hub and 'git clone https://huggingface.co//abs/path')."""

    def no_network(*args, **kwargs):
        raise AssertionError("fetched from the hub")

    monkeypatch.setattr("interpretability.classifiers.io.fetch", no_network)
    for missing in (
        str(tmp_path / "nowhere" / "classifier"),
        "./results/x",
        "runs/a/b/classifier",
        "Cnn14.pth",
    ):
        with pytest.raises(
            CheckpointError, match=f"^{missing}: no such folder or file"
        ):
            load_pretrained_classifier(missing, str(tmp_path / "save"))


# ---------------------------------------------------------------------------------- what the user sees


def test_explain_command_with_a_truncated_decoder(folders, tmp_path):
    folder = damaged(folders, tmp_path)
    path = folder / "decoder.ckpt"
    path.write_bytes(path.read_bytes()[:3000])
    result = run_cli(
        [
            "-m",
            "interpretability.explain",
            "--interpreter",
            folder,
            "--out",
            tmp_path / "out",
            folders[1]["wav"],
        ]
    )
    one_line_error(
        result, f"{path}: unreadable checkpoint, truncated or not a torch file"
    )
    assert not (tmp_path / "out").exists()


def _data_with_the_classes(tmp_path):
    """A tiny synthetic set whose classes carry the exported classifiers' names."""
    data = tmp_path / "data"
    tiny_esc50(data)
    # the classifiers were exported with these class names: give the data the same ones
    csv_path = data / "meta" / "esc50.csv"
    text = csv_path.read_text()
    for new, old in zip(
        CLASSES, ("pure_tone", "rising_chirp", "falling_chirp")
    ):
        text = text.replace(f",{old},", f",{new},")
    csv_path.write_text(text)
    return data


def test_recipe_with_an_interpreter_of_another_classifier(folders, tmp_path):
    """evaluate.py with --pretrained_interpreter trained on A and --pretrained_classifier B."""
    data = _data_with_the_classes(tmp_path)
    interpreter = folders[1]["lmac"]
    result = run_cli(
        [
            "evaluate.py",
            "hparams/evaluate_cnn6.yaml",
            f"--data_folder={data}",
            f"--output_folder={tmp_path / 'out'}",
            f"--pretrained_classifier={folders[1]['B']}",
            f"--pretrained_interpreter={interpreter}",
            "--download=False",
            "--clip_seconds=0.5",
            "--max_clips=2",
            "--conditions=[in_domain]",
            "--sanity_clips=0",
            "--methods=[saliency]",
        ],
        cwd=ROOT / "recipes" / "ESC50",
    )
    one_line_error(
        result,
        f"{interpreter}: this interpreter was trained on the classifier in {interpreter}/classifier"
        f", not on",
    )


def test_fine_tuning_a_decoder_of_another_classifier(folders, tmp_path):
    """L-MAC FT (train_lmac.py --pretrained_interpreter) from a decoder trained on A, explaining B (same
    architecture): refused before any training, not silently fine-tuned onto another model."""
    data = _data_with_the_classes(tmp_path)
    interpreter = folders[1]["lmac"]
    result = run_cli(
        [
            "train_lmac.py",
            "hparams/lmac_cnn6_ft.yaml",
            f"--data_folder={data}",
            f"--output_folder={tmp_path / 'ft'}",
            f"--pretrained_classifier={folders[1]['B']}",
            f"--pretrained_interpreter={interpreter}",
            "--download=False",
            "--clip_seconds=0.5",
        ],
        cwd=ROOT / "recipes" / "ESC50",
    )
    one_line_error(
        result, "this interpreter was trained on the classifier in", ", not on"
    )
    assert not (tmp_path / "ft" / "test_metrics.json").exists()
