"""Hostile output folders: a folder that cannot be written, one already used by a run with
other hparams, one holding a truncated checkpoint. The run stops before writing anything, with one ``error:`` line
naming the folder (and the differing hparams, or the file), exit status 2; what is in the folder stays as it was.
A resume with the same configuration (more epochs, say) is still accepted."""

import os
import re
import shutil
from pathlib import Path

import pytest
import torch
from hostile_cli import ROOT, one_line_error, run_cli
from hyperpyyaml import load_hyperpyyaml

import speechbrain as sb
from interpretability.data.synthetic import generate_dataset
from interpretability.errors import CheckpointError, OutputError
from interpretability.recipe import (
    check_checkpoints,
    check_output_folder,
    hparams_changes,
    require_writable,
    with_recipe_defaults,
)

RECIPES = ROOT / "recipes" / "ESC50"
HPARAMS = RECIPES / "hparams" / "classifier_cnn6.yaml"
TINY = {
    "download": "False",
    "clip_seconds": "0.5",
    "channels": "[4,4,8,8]",
    "batch_size": "8",
    "number_of_epochs": "1",
}


def flags(data, out, **changes):
    """The command-line flags of the finished run, with ``changes`` (None: left out)."""
    options = {"data_folder": data, "output_folder": out, **TINY, **changes}
    return [
        f"--{key}={value}"
        for key, value in options.items()
        if value is not None
    ]


def tree(folder):
    """``{relative path: bytes}`` of every file under ``folder``."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(Path(folder).rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A real train_classifier.py run (one epoch of a tiny CNN on a tiny synthetic set): data and output folder."""
    root = tmp_path_factory.mktemp("hostile_output")
    data = root / "data"
    generate_dataset(
        str(data),
        layout="esc50",
        clips_per_class=4,
        duration=0.5,
        seed=0,
        n_classes=3,
        show_progress=False,
    )
    out = root / "run"
    result = run_cli(
        ["train_classifier.py", HPARAMS, *flags(data, out)], cwd=RECIPES
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "test_metrics.json").is_file() and list(
        (out / "save").glob("CKPT+*")
    )
    return data, out


def check(argv, hparams_file=HPARAMS):
    """What load_recipe does before the run writes anything, in this process."""
    hparams_file, _, overrides = sb.parse_arguments([str(hparams_file), *argv])
    with open(hparams_file, encoding="utf-8") as handle:
        hparams = load_hyperpyyaml(
            with_recipe_defaults(handle.read()), overrides
        )
    check_output_folder(hparams, hparams_file, overrides)


def test_resume_with_the_same_configuration_is_accepted(finished_run):
    data, out = finished_run
    before = tree(out)
    check(flags(data, out))
    check(flags(data, out, number_of_epochs=5, checksum="none"))
    assert tree(out) == before


@pytest.mark.parametrize(
    "changes, hparams_file, shown",
    [
        ({"lr": "0.01"}, HPARAMS, "lr: 0.001 -> 0.01"),
        (
            {"channels": "[8,8,16,16]"},
            HPARAMS,
            "channels: [4, 4, 8, 8] -> [8, 8, 16, 16])",
        ),
        ({"seed": "7"}, HPARAMS, "seed: 1986 -> 7"),
        (
            {"channels": None},
            RECIPES / "hparams" / "classifier_cnn14.yaml",
            "classifier.architecture: compact_cnn -> cnn14",
        ),
    ],
    ids=["lr", "channels", "seed", "other-hparams-file"],
)
def test_other_configuration_is_refused(
    finished_run, changes, hparams_file, shown
):
    data, out = finished_run
    before = tree(out)
    with pytest.raises(OutputError) as info:
        check(flags(data, out, **changes), hparams_file)
    message = str(info.value)
    assert message.startswith(
        f"{out}: holds checkpoints, classifier, test_metrics.json of a run with other hparams"
    )
    assert shown in message and "\n" not in message
    assert tree(out) == before


def test_other_data_folder_is_refused(finished_run, tmp_path):
    data, out = finished_run
    with pytest.raises(
        OutputError, match=f"data_folder: {data} -> {tmp_path / 'other'}\\)"
    ):
        check(flags(tmp_path / "other", out))


def test_folder_of_a_run_that_stopped_before_any_result_is_reused(
    finished_run, tmp_path
):
    """Only what SpeechBrain writes at the start (and the prepared manifests): any hparams may follow."""
    data, out = finished_run
    reused = tmp_path / "stopped"
    reused.mkdir()
    for name in ("hyperparams.yaml", "env.log", "log.txt", "recipe.py"):
        shutil.copy(out / name, reused / name)
    shutil.copytree(
        out / "save", reused / "save", ignore=shutil.ignore_patterns("CKPT+*")
    )
    check(flags(data, reused, lr="0.01"))


def test_changes_ignore_resumable_keys_and_their_copies():
    before = {
        "number_of_epochs": 1,
        "lr": 0.001,
        "channels": [4, 8],
        "epoch_counter": {"!": "new:EpochCounter", "limit": 1},
        "classifier": {"!": "name:build", "channels": [4, 8]},
        "opts": {"num_workers": 0},
    }
    after = {
        "number_of_epochs": 3,
        "lr": 0.01,
        "channels": [8, 8],
        "epoch_counter": {"!": "new:EpochCounter", "limit": 3},
        "classifier": {"!": "name:build", "channels": [8, 8]},
        "opts": {"num_workers": 4},
    }
    assert hparams_changes(before, after) == [
        ("channels", [4, 8], [8, 8]),
        ("lr", 0.001, 0.01),
    ]
    assert hparams_changes(before, dict(before, number_of_epochs=9)) == []


def test_truncated_checkpoint_in_the_save_folder(tmp_path):
    ckpt = tmp_path / "save" / "CKPT+2026-01-01+00-00-00+00"
    ckpt.mkdir(parents=True)
    torch.save({"w": torch.zeros(100)}, ckpt / "model.ckpt")
    (ckpt / "counter.ckpt").write_text(
        "3"
    )  # SpeechBrain's epoch counter: text, not read
    (ckpt / "CKPT.yaml").write_text("end-of-epoch: true\n")
    check_checkpoints(str(tmp_path / "save"))
    data = (ckpt / "model.ckpt").read_bytes()
    (ckpt / "model.ckpt").write_bytes(data[: len(data) // 2])
    with pytest.raises(
        CheckpointError,
        match=f"^{re.escape(str(ckpt / 'model.ckpt'))}: truncated checkpoint; remove "
        f"its folder",
    ):
        check_checkpoints(str(tmp_path / "save"))
    (ckpt / "model.ckpt").write_bytes(data)
    (ckpt / "counter.ckpt").write_bytes(b"")
    with pytest.raises(
        CheckpointError, match="counter.ckpt: truncated checkpoint"
    ):
        check_checkpoints(str(tmp_path / "save"))


def unwritable(tmp_path):
    """A folder this process cannot write: a read-only folder (holding an earlier result), or, for root (who
    writes anyway), a path under /sys or /proc; skip when there is none."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    (folder / "test_metrics.json").write_text('{"acc": 0.9}\n')
    folder.chmod(0o555)
    try:
        (folder / "probe").write_text("x")
    except OSError:
        return folder
    (folder / "probe").unlink()
    folder.chmod(0o755)
    for candidate in (
        "/sys/interpretability-test-output",
        "/proc/interpretability-test-output",
    ):
        try:
            os.mkdir(candidate)
        except OSError:
            return Path(candidate)
        os.rmdir(candidate)
    pytest.skip("every folder is writable here")


def test_unwritable_folder(tmp_path):
    folder = unwritable(tmp_path)
    with pytest.raises(
        OutputError, match=f"^{folder}: output folder not writable"
    ):
        require_writable(str(folder))
    with pytest.raises(
        OutputError,
        match=f"^{tmp_path / 'a-file'}: output folder is a file, not a folder",
    ):
        (tmp_path / "a-file").write_text("x")
        require_writable(str(tmp_path / "a-file"))


# ---------------------------------------------------------------------------------- what the user sees


def test_recipe_in_a_folder_used_with_other_hparams(finished_run):
    data, out = finished_run
    before = tree(out)
    result = run_cli(
        ["train_classifier.py", HPARAMS, *flags(data, out, lr="0.01")],
        cwd=RECIPES,
    )
    one_line_error(
        result,
        f"{out}: holds checkpoints, classifier, test_metrics.json of a run with other hparams "
        f"(lr: 0.001 -> 0.01)",
    )
    assert tree(out) == before


def test_recipe_resuming_from_a_truncated_checkpoint(finished_run, tmp_path):
    data, out = finished_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    ckpt = next((copy / "save").glob("CKPT+*")) / "classifier.ckpt"
    ckpt.write_bytes(ckpt.read_bytes()[:2000])
    before = tree(copy)
    result = run_cli(
        [
            "train_classifier.py",
            HPARAMS,
            *flags(data, copy, number_of_epochs=2),
        ],
        cwd=RECIPES,
    )
    one_line_error(
        result, f"{ckpt}: truncated checkpoint; remove its folder {ckpt.parent}"
    )
    assert tree(copy) == before


def test_recipe_in_an_unwritable_folder(finished_run, tmp_path):
    data, _ = finished_run
    folder = unwritable(tmp_path)
    before = tree(folder) if folder.is_dir() else {}
    result = run_cli(
        ["train_classifier.py", HPARAMS, *flags(data, folder)], cwd=RECIPES
    )
    line = one_line_error(result, str(folder))
    assert "cannot be created or written" in line or "not writable" in line
    assert (tree(folder) if folder.is_dir() else {}) == before


def test_half_written_checkpoint_is_left_to_the_brain(tmp_path):
    """A kill while saving leaves a folder without CKPT.yaml (written last): never recovered, removed when the Brain
    starts, so the start-up check does not stop the resumed run on its truncated files."""
    ckpt = tmp_path / "save" / "CKPT+2026-01-01+00-00-00+01"
    ckpt.mkdir(parents=True)
    (ckpt / "random_state.ckpt").write_bytes(b"PK\x03\x04 cut")
    check_checkpoints(str(tmp_path / "save"))
    (ckpt / "CKPT.yaml").write_text("end-of-epoch: true\n")
    with pytest.raises(CheckpointError, match="random_state.ckpt: truncated"):
        check_checkpoints(str(tmp_path / "save"))
