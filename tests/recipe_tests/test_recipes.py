"""Run every recipe row of ``tests/recipes/<Dataset>.csv`` on synthetic data and check its outputs."""
import csv
import glob
import json
import operator
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CSV_FILES = sorted(glob.glob(os.path.join(ROOT, "tests", "recipes", "*.csv")))
COLUMNS = ["Task", "Dataset", "Script_file", "Hparam_file", "Readme_file", "Needs", "test_flags",
           "expected_files", "performance_check"]
CHECK = re.compile(r"^(?P<file>[^:]+):(?P<key>[\w.]+)(?P<op>>=|<=|>|<)(?P<value>-?[\d.]+|[A-Za-z][\w.]*)$")
OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
TIMEOUT_S = 900


def load_rows():
    rows = []
    for path in CSV_FILES:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            assert reader.fieldnames == COLUMNS, f"{path}: columns must be {COLUMNS}"
            rows.extend(reader)
    return rows


ROWS = load_rows()


def row_id(row):
    return f"{row['Dataset']}:{row['Task']}:{os.path.basename(row['Hparam_file'])}"


def nested(data, dotted):
    for part in dotted.split("."):
        data = data[part]
    return data


def check_performance(out, checks):
    """Evaluate ``file.json:key>=value`` conditions; return the failures."""
    failures = []
    for check in checks.split():
        match = CHECK.match(check)
        assert match, f"malformed performance check {check!r}"
        with open(os.path.join(out, match["file"]), encoding="utf-8") as handle:
            data = json.load(handle)
        value = nested(data, match["key"])
        # the right side is a number, or another key of the same file (e.g. FF_median>FF_median_random)
        bound = nested(data, match["value"]) if match["value"][0].isalpha() else match["value"]
        if not OPS[match["op"]](float(value), float(bound)):
            failures.append(f"{check} (got {value:.4g} against {float(bound):.4g})")
    return failures


@pytest.fixture(scope="session")
def run_row(synthetic_data, tmp_path_factory):
    """Run a row once per session (rows named in ``Needs`` run first) and return its output folder."""
    done = {}

    def run(row):
        key = f"{row['Dataset']}:{row['Task']}:{row['Hparam_file']}"
        if key in done:
            return done[key]
        needs = ""
        if row["Needs"]:
            task, hparams = row["Needs"].split(":")
            needed = [r for r in ROWS if r["Dataset"] == row["Dataset"] and r["Task"] == task
                      and r["Hparam_file"] == hparams]
            assert len(needed) == 1, f"{row_id(row)}: Needs {row['Needs']!r} names no single row"
            needs = run(needed[0])
        out = str(tmp_path_factory.mktemp(row_id(row).replace(":", "_")))
        flags = row["test_flags"].format(data=synthetic_data(row["Dataset"]), out=out, needs=needs).split()
        script = os.path.join(ROOT, row["Script_file"])
        command = [sys.executable, script, os.path.join(ROOT, row["Hparam_file"]), *flags]
        result = subprocess.run(command, cwd=os.path.dirname(script), capture_output=True, text=True,
                                timeout=TIMEOUT_S)
        assert result.returncode == 0, (
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
        done[key] = out
        return out

    return run


@pytest.mark.parametrize("row", ROWS, ids=[row_id(r) for r in ROWS])
def test_recipe(row, run_row):
    out = run_row(row)
    missing = [f for f in row["expected_files"].split() if not glob.glob(os.path.join(out, f))]
    assert not missing, f"{row_id(row)}: expected files not written: {missing}"
    failures = check_performance(out, row["performance_check"])
    assert not failures, f"{row_id(row)}: performance checks failed: {failures}"


def test_every_hparams_file_has_a_row():
    listed = {row["Hparam_file"] for row in ROWS}
    yamls = {os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "recipes", "*", "hparams", "*.yaml"))}
    assert yamls, "no recipe hparams found"
    assert not yamls - listed, f"hparams files without a recipe-test row: {sorted(yamls - listed)}"
    for row in ROWS:
        for column in ("Script_file", "Hparam_file", "Readme_file"):
            assert os.path.isfile(os.path.join(ROOT, row[column])), f"{row_id(row)}: {row[column]} not found"


def test_performance_check_parser_rejects_and_accepts(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps({"acc": 0.5, "pruning": {"delta_A": -0.2, "random": 0.1}}))
    assert check_performance(str(tmp_path), "m.json:acc>=0.5 m.json:pruning.delta_A<0") == []
    assert len(check_performance(str(tmp_path), "m.json:acc>=0.9 m.json:pruning.delta_A>0")) == 2
    assert check_performance(str(tmp_path), "m.json:pruning.delta_A<pruning.random") == []
    assert len(check_performance(str(tmp_path), "m.json:acc<pruning.random")) == 1


def test_classifier_recipe_under_torchrun_on_cpu(synthetic_data, tmp_path):
    """Two processes with gloo: SpeechBrain's DDP path (our Brains skip SyncBatchNorm on CPU)."""
    recipe = os.path.join(ROOT, "recipes", "ESC50")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "train_classifier.py",
               "hparams/classifier_cnn6.yaml", f"--data_folder={synthetic_data('ESC50')}",
               f"--output_folder={tmp_path}", "--n_classes=6", "--clip_seconds=1.0", "--number_of_epochs=1",
               "--distributed_backend=gloo", "--device=cpu", "--channels=[8,16,16,32]"]
    result = subprocess.run(command, cwd=recipe, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr[-4000:]
    with open(tmp_path / "test_metrics.json", encoding="utf-8") as handle:
        assert json.load(handle)["n_clips"] > 0
    assert (tmp_path / "classifier" / "model.ckpt").is_file()
