"""Which checkpoint an interpreter recipe keeps: ``checkpoint_key`` / ``checkpoint_mode`` pick the validation metric
and its direction for the checkpoint kept *and* for the early stopper, and a key that is no validation metric is
one clear error."""

import glob

import pytest
import yaml
from hostile_cli import ROOT, one_line_error, run_cli, tiny_esc50
from hyperpyyaml import load_hyperpyyaml

from interpretability.classifiers import build_classifier
from interpretability.classifiers.io import export_classifier
from interpretability.recipe import with_recipe_defaults

STOPPED_INTERPRETERS = sorted(
    path
    for path in glob.glob(str(ROOT / "recipes" / "*" / "hparams" / "*.yaml"))
    if "EpochCounterWithStopper" in open(path, encoding="utf-8").read()
    and "checkpoint_mode" in open(path, encoding="utf-8").read()
)


def test_every_stopped_interpreter_recipe_is_found():
    names = {p.split("/hparams/")[1] for p in STOPPED_INTERPRETERS}
    assert {"lmac_cnn6.yaml", "lmac_cnn14.yaml", "l2i_cnn6.yaml"} <= names
    assert (
        len(STOPPED_INTERPRETERS) == 12
    )  # lmac and l2i, cnn6 and cnn14, three datasets


@pytest.mark.parametrize(
    "hparams_file",
    STOPPED_INTERPRETERS,
    ids=lambda p: p.split("recipes/")[1],
)
@pytest.mark.parametrize("mode", ["min", "max"])
def test_early_stopping_follows_checkpoint_mode(hparams_file, mode, tmp_path):
    """A metric to maximise (``--checkpoint_key=AG --checkpoint_mode=max``) must not stop the run as if it were a
    loss: the stopper's direction is the checkpoint's."""
    with open(hparams_file, encoding="utf-8") as handle:
        hparams = load_hyperpyyaml(
            with_recipe_defaults(handle.read()),
            {
                "data_folder": str(tmp_path),
                "output_folder": str(tmp_path / "out"),
                "checkpoint_mode": mode,
            },
        )
    assert hparams["epoch_counter"].direction == mode


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 3-class synthetic set of half-second clips and an untrained compact classifier exported for it."""
    root = tmp_path_factory.mktemp("checkpoint_selection")
    tiny_esc50(root / "data")
    import csv

    with open(root / "data" / "meta" / "esc50.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    classes = [
        name
        for _, name in sorted({(int(r["target"]), r["category"]) for r in rows})
    ]
    model = build_classifier(
        "compact_cnn", n_classes=len(classes), channels=[4, 4, 8, 8]
    ).eval()
    classifier = export_classifier(
        model, str(root / "clf"), classes, clip_seconds=0.5
    )
    return root / "data", classifier


def train_lmac(tiny, out, *options):
    data, classifier = tiny
    return run_cli(
        [
            "train_lmac.py",
            "hparams/lmac_cnn6.yaml",
            f"--data_folder={data}",
            f"--output_folder={out}",
            f"--pretrained_classifier={classifier}",
            "--download=False",
            "--clip_seconds=0.5",
            "--number_of_epochs=2",
            "--decoder_width=8",
            "--batch_size=8",
            "--n_export=0",
            *options,
        ],
        cwd=ROOT / "recipes" / "ESC50",
    )


def test_checkpoint_kept_by_a_validation_metric_to_maximise(tiny, tmp_path):
    out = tmp_path / "lmac"
    result = train_lmac(
        tiny, out, "--checkpoint_key=AG", "--checkpoint_mode=max"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (kept,) = glob.glob(str(out / "save" / "CKPT*" / "CKPT.yaml"))
    with open(kept, encoding="utf-8") as handle:
        meta = yaml.safe_load(handle)
    assert "AG" in meta and "loss" not in meta
    assert (out / "test_metrics.json").is_file()


def test_checkpoint_key_that_is_no_validation_metric(tiny, tmp_path):
    """Known only once the first validation has run: the run stops there, on one ``error:`` line that lists the
    metrics there are (the training's progress bars are above it)."""
    result = train_lmac(
        tiny, tmp_path / "lmac", "--checkpoint_key=faithfulness"
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stdout + result.stderr
    last = [line for line in result.stderr.splitlines() if line.strip()][-1]
    assert last.startswith(
        "error: checkpoint_key 'faithfulness' is not a validation metric of LMACBrain; it has: AD, AG, AI,"
    ), last


def test_checkpoint_mode_that_is_no_direction(tiny, tmp_path):
    result = train_lmac(tiny, tmp_path / "lmac", "--checkpoint_mode=maximum")
    one_line_error(result, "checkpoint_mode must be min or max, not 'maximum'")
    assert not glob.glob(str(tmp_path / "lmac" / "save" / "CKPT*"))


def _log(out):
    """``[(train loss text, valid stats text)]`` per epoch of a run's train_log.txt."""
    lines = (out / "train_log.txt").read_text().splitlines()
    epochs = [line for line in lines if line.startswith("epoch:")]
    return [tuple(line.split(" - ")[1:3]) for line in epochs]


def test_validation_on_changed_clips_leaves_the_training_as_it_was(
    tiny, tmp_path
):
    """``--valid_augmented=True``: the same training (same losses, epoch by epoch), scored on validation clips
    changed as the training clips are, so other validation figures."""
    changes = ("--noise_prob=0.5", "--gain_db=24.0")
    plain, changed = tmp_path / "plain", tmp_path / "changed"
    for out, extra in ((plain, ()), (changed, ("--valid_augmented=True",))):
        result = train_lmac(tiny, out, *changes, *extra)
        assert result.returncode == 0, result.stderr[-3000:]
    plain_log, changed_log = _log(plain), _log(changed)
    assert len(plain_log) == len(changed_log) == 2
    assert [t for t, _ in plain_log] == [t for t, _ in changed_log]
    assert all(p != c for (_, p), (_, c) in zip(plain_log, changed_log))


def test_an_option_given_twice(tiny, tmp_path):
    result = train_lmac(tiny, tmp_path / "lmac", "--number_of_epochs=3")
    one_line_error(
        result, "lmac_cnn6.yaml: an option is given twice", "number_of_epochs"
    )
