"""Run every row of ``tests/recipes/<Dataset>.csv`` on synthetic data and check its outputs.

The CSVs are in SpeechBrain's recipe-test format (the columns and cell syntax that SpeechBrain's
``tests/utils/recipe_tests.py`` reads); ``tests/recipes/README.md`` documents it and the few extensions this
runner understands. The runner differs from SpeechBrain's in three ways, all so that a row can run alone:

- it runs the commands in a fresh folder of the pytest session instead of the repository root, so the relative
  ``tests/tmp/...`` paths of ``test_debug_flags`` never see the outputs of an earlier session;
- a row whose flags name a path under another row's ``--output_folder`` runs after that row (SpeechBrain's runner
  relies on the row order for the same thing); every row runs at most once per session and is reused;
- the setup script of a CSV's first row (``tests/recipes/setup/``, SpeechBrain's convention, which makes the
  synthetic set) runs before any row of that CSV, not only before the first.
"""

import csv
import glob
import json
import operator
import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
RECIPE_TESTS = os.path.join(ROOT, "tests", "recipes")
CSV_FILES = sorted(glob.glob(os.path.join(RECIPE_TESTS, "*.csv")))
# SpeechBrain's columns, in its order (tests/recipes/*.csv of its develop branch)
COLUMNS = [
    "Task",
    "Dataset",
    "Script_file",
    "Hparam_file",
    "Data_prep_file",
    "Readme_file",
    "Result_url",
    "HF_repo",
    "test_debug_flags",
    "test_debug_checks",
    "performance",
]
SCRATCH = "tests/tmp"  # every path the flags write or read lies under it
SYNTHETIC = SCRATCH + "/synthetic/{dataset}"  # the synthetic set of a CSV
ENTRY = re.compile(r"(?P<name>\w+)=\[(?P<body>[^\]]*)\]")
THRESHOLD = re.compile(
    r"^(?P<op>>=|<=|==|>|<)\s*(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[A-Za-z_][\w.]*)$"
)
OPS = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    ">": operator.gt,
    "<": operator.lt,
}
# a value in a log line as SpeechBrain's extract_value reads it ("test acc: 9.17e-01")
LOG_VALUE = r"{key}\s*:\s*(?P<value>[-+]?\d*\.\d+([eE][-+]?\d+)?)"
TIMEOUT_S = 900


def load_rows():
    """The rows of every CSV, each with ``csv`` (the file's name) and ``line`` (its line in the file)."""
    rows = []
    for path in CSV_FILES:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle, skipinitialspace=True)
            assert reader.fieldnames == COLUMNS, (
                f"{path}: columns must be {COLUMNS}"
            )
            for line, row in enumerate(reader, start=2):
                row = {key: value.strip() for key, value in row.items()}
                rows.append(dict(row, csv=os.path.basename(path), line=line))
    return rows


ROWS = load_rows()


def row_id(row):
    """Readable pytest id: ``Dataset:Task:hparams.yaml``."""
    return (
        f"{row['Dataset']}:{row['Task']}:{os.path.basename(row['Hparam_file'])}"
    )


def parse_checks(cell):
    """``test_debug_checks`` -> ``(files, checks)``.

    ``files``: the names of ``file_exists=[a,b,...]``; ``checks``: one ``(file, variable, threshold, epoch)`` per
    ``performance_check=[file, variable, threshold, epoch: N]`` (SpeechBrain's four fields).
    """
    entries = list(ENTRY.finditer(cell))
    leftover = ENTRY.sub("", cell).strip()
    assert not leftover, f"test_debug_checks: cannot read {leftover!r}"
    files, checks = [], []
    for entry in entries:
        if entry["name"] == "file_exists":
            files.extend(name.strip() for name in entry["body"].split(","))
        elif entry["name"] == "performance_check":
            fields = [field.strip() for field in entry["body"].split(",")]
            assert len(fields) == 4 and fields[3].startswith("epoch:"), (
                f"performance_check=[{entry['body']}]: "
                "needs [file, variable, threshold, epoch: N]"
            )
            assert THRESHOLD.match(fields[2]), (
                f"performance_check=[{entry['body']}]: "
                f"threshold {fields[2]!r} is not like >=0.5 or >other_key"
            )
            checks.append(tuple(fields))
        else:
            raise AssertionError(
                f"test_debug_checks: unknown entry {entry[0]!r}"
            )
    return files, checks


def nested(data, dotted):
    """``data['a']['b']`` for ``'a.b'``."""
    for part in dotted.split("."):
        data = data[part]
    return data


def read_value(path, variable, epoch, other=None):
    """The value of ``variable`` (and of the key ``other``, JSON only) in the file ``path``.

    A ``.json`` file: ``variable`` is a key, dotted for nested objects, and ``epoch`` is ignored (the file holds
    the final results). Any other file is a SpeechBrain training log read as its runner does: the first line
    containing ``epoch`` (e.g. ``epoch: 2``), or the last non-empty line for ``epoch: -1``, and the number after
    ``variable:`` in it.
    """
    with open(path, encoding="utf-8") as handle:
        if path.endswith(".json"):
            data = json.load(handle)
            return nested(data, variable), (
                nested(data, other) if other else None
            )
        lines = [line for line in handle.read().splitlines() if line.strip()]
    assert other is None, f"{path}: a log value is compared with numbers only"
    if int(epoch.split(":")[-1]) == -1:
        lines = lines[-1:]
    else:
        lines = [line for line in lines if epoch in line][:1]
    assert lines, f"{path}: no line for {epoch!r}"
    match = re.search(LOG_VALUE.format(key=re.escape(variable)), lines[0])
    assert match, f"{path}: no {variable!r} in {lines[0]!r}"
    return float(match["value"]), None


def check_performance(out, checks):
    """Evaluate ``(file, variable, threshold, epoch)`` checks in the folder ``out``; return the failures.

    The threshold is an operator and a number (``>=0.5``) or, for JSON files, another key of the same file
    (``>FF_median_random``).
    """
    failures = []
    for file, variable, threshold, epoch in checks:
        match = THRESHOLD.match(threshold)
        bound = match["value"]
        other = bound if bound[0].isalpha() or bound[0] == "_" else None
        value, other_value = read_value(
            os.path.join(out, file), variable, epoch, other
        )
        bound = float(other_value if other else bound)
        if not OPS[match["op"]](float(value), bound):
            failures.append(
                f"{file}: {variable} {threshold} (got {float(value):.4g}"
                f" against {bound:.4g})"
            )
    return failures


def flag_paths(flags):
    """``{flag: value}`` of the ``--flag=value`` / ``--flag value`` flags whose value lies under tests/tmp/."""
    tokens = shlex.split(flags)
    paths = {}
    for i, token in enumerate(tokens):
        if not token.startswith("--"):
            continue
        if "=" in token:
            name, value = token[2:].split("=", 1)
        elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
            name, value = token[2:], tokens[i + 1]
        else:
            continue
        if value.startswith(SCRATCH + "/"):
            paths[name] = value.rstrip("/")
    return paths


def output_folder(row):
    """The row's ``--output_folder`` (every row names one under tests/tmp/<Dataset>/)."""
    return flag_paths(row["test_debug_flags"]).get("output_folder")


def producer(row, rows=ROWS):
    """The rows whose output folder holds a path the row's flags read (they run first)."""
    needed = []
    for name, path in flag_paths(row["test_debug_flags"]).items():
        if name == "output_folder":
            continue
        for other in rows:
            folder = output_folder(other)
            if other is not row and (
                path == folder or path.startswith(folder + "/")
            ):
                needed.append(other)
    return needed


def setup_script(row):
    """SpeechBrain's setup script for a row: tests/recipes/setup/<script path>/<hparams path>, '/' as '_'."""
    script, hparams = row["Script_file"], row["Hparam_file"]
    hparams = hparams.replace(os.path.dirname(script), "")[1:-5]
    return os.path.join(
        RECIPE_TESTS,
        "setup",
        script[:-3].replace("/", "_"),
        hparams.replace("/", "_"),
    )


def subprocess_env():
    """This checkout first on PYTHONPATH (whatever an editable install points at), this Python first on PATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [ROOT, env.get("PYTHONPATH")])
    )
    env["PATH"] = os.pathsep.join(
        [os.path.dirname(sys.executable), env.get("PATH", "")]
    )
    return env


class RecipeRunner:
    """Runs rows and setup scripts in one scratch folder, each at most once (the session's cache)."""

    def __init__(self, folder):
        self.folder = str(folder)
        self.done = {}
        self.setups_run = set()

    def path(self, relative):
        """Absolute path of a tests/tmp/... path of the flags."""
        return os.path.join(self.folder, relative)

    def setup(self, row):
        """Run the setup scripts of the CSV's first row and of ``row`` (those that exist), once each."""
        first = next(r for r in ROWS if r["csv"] == row["csv"])
        for script in (setup_script(first), setup_script(row)):
            if script in self.setups_run or not os.path.isfile(script):
                continue
            result = subprocess.run(
                ["sh", script],
                cwd=self.folder,
                env=subprocess_env(),
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
            )
            assert result.returncode == 0, (
                f"{script} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
            self.setups_run.add(script)

    def synthetic_data(self, dataset):
        """Absolute path of the synthetic set of ``tests/recipes/<dataset>.csv`` (its setup makes it)."""
        self.setup(next(r for r in ROWS if r["csv"] == f"{dataset}.csv"))
        folder = self.path(SYNTHETIC.format(dataset=dataset))
        assert os.path.isdir(folder), (
            f"the setup of {dataset}.csv made no {folder}"
        )
        return folder

    def run(self, row):
        """Run ``row`` (after the rows it reads from) and return its output folder."""
        key = (row["csv"], row["line"])
        if key in self.done:
            return self.done[key]
        self.setup(row)
        for needed in producer(row):
            self.run(needed)
        script = os.path.join(ROOT, row["Script_file"])
        command = [
            sys.executable,
            script,
            os.path.join(ROOT, row["Hparam_file"]),
            *shlex.split(row["test_debug_flags"]),
        ]
        result = subprocess.run(
            command,
            cwd=self.folder,
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
        assert result.returncode == 0, (
            f"{' '.join(command)} failed ({result.returncode}) in {self.folder}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
        )
        self.done[key] = self.path(output_folder(row))
        return self.done[key]


def check_row(row, recipe_runner):
    """Run ``row`` (and the rows it reads) and assert its ``file_exists`` and ``performance_check`` entries."""
    files, checks = parse_checks(row["test_debug_checks"])
    out = recipe_runner.run(row)
    missing = [f for f in files if not glob.glob(os.path.join(out, f))]
    assert not missing, f"{row_id(row)}: expected files not written: {missing}"
    failures = check_performance(out, checks)
    assert not failures, f"{row_id(row)}: performance checks failed: {failures}"


def rows_of_dataset(dataset):
    """A test class of the rows of one CSV: ``make test`` runs pytest-xdist with ``--dist loadscope``, which keeps
    a class on one worker, so a dataset's rows share that worker's session and every row runs once."""
    rows = [r for r in ROWS if r["Dataset"] == dataset]

    class Rows:
        @pytest.mark.parametrize("row", rows, ids=[row_id(r) for r in rows])
        def test_recipe(self, row, recipe_runner):
            check_row(row, recipe_runner)

    Rows.__name__ = Rows.__qualname__ = "TestRows" + dataset.replace("-", "")
    return Rows


for _dataset in sorted({r["Dataset"] for r in ROWS}):
    _rows = rows_of_dataset(_dataset)
    globals()[_rows.__name__] = _rows


def test_rows_are_complete_and_self_contained():
    """Every hparams file has a row; every row names existing files, its own output folder, and reads only the
    synthetic set and other rows' outputs; its checks parse."""
    listed = {row["Hparam_file"] for row in ROWS}
    yamls = {
        os.path.relpath(p, ROOT)
        for p in glob.glob(
            os.path.join(ROOT, "recipes", "*", "hparams", "*.yaml")
        )
    }
    assert yamls, "no recipe hparams found"
    assert not yamls - listed, (
        f"hparams files without a recipe-test row: {sorted(yamls - listed)}"
    )
    folders = [output_folder(row) for row in ROWS]
    assert len(set(folders)) == len(folders), "two rows share an output folder"
    for row in ROWS:
        assert row["csv"] == f"{row['Dataset']}.csv", row_id(row)
        for column in (
            "Script_file",
            "Hparam_file",
            "Data_prep_file",
            "Readme_file",
        ):
            assert os.path.isfile(os.path.join(ROOT, row[column])), (
                f"{row_id(row)}: {row[column]} not found"
            )
        assert output_folder(row), f"{row_id(row)}: no --output_folder"
        assert output_folder(row).startswith(f"{SCRATCH}/{row['Dataset']}/"), (
            row_id(row)
        )
        for name, path in flag_paths(row["test_debug_flags"]).items():
            if name in ("output_folder", "data_folder"):
                continue
            assert producer(row), (
                f"{row_id(row)}: --{name}={path} is no row's output"
            )
        assert flag_paths(row["test_debug_flags"])["data_folder"] == (
            SYNTHETIC.format(dataset=row["Dataset"])
        ), row_id(row)
        files, checks = parse_checks(row["test_debug_checks"])
        assert files, f"{row_id(row)}: no file_exists=[...]"
        if (
            checks
        ):  # SpeechBrain's runner reads the first check only, as a number
            assert not THRESHOLD.match(checks[0][2])["value"][0].isalpha(), (
                row_id(row)
            )
    for dataset in {row["Dataset"] for row in ROWS}:
        first = next(r for r in ROWS if r["Dataset"] == dataset)
        assert os.path.isfile(setup_script(first)), (
            f"{dataset}.csv: its first row has no setup script making the synthetic set"
        )
        with open(setup_script(first), encoding="utf-8") as handle:
            setup = handle.read()
        # SpeechBrain's runner writes <output_folder>/stdout.txt before running a row that names its folder
        missing = [
            output_folder(row)
            for row in ROWS
            if row["Dataset"] == dataset
            and output_folder(row) not in setup.split()
        ]
        assert not missing, f"{setup_script(first)} does not create {missing}"


def test_checks_parser_reads_speechbrain_syntax(tmp_path):
    (tmp_path / "m.json").write_text(
        json.dumps({"acc": 0.5, "pruning": {"delta_A": -0.2, "random": 0.1}})
    )
    (tmp_path / "train_log.txt").write_text(
        "epoch: 1, lr: 1.00e-03 - train loss: 2.00e+00 - valid acc: 2.50e-01\n"
        "epoch: 2, lr: 1.00e-03 - train loss: 1.00e+00 - valid acc: 5.00e-01\n"
        "Epoch loaded: 2 - test loss: 9.00e-01, test acc: 7.50e-01\n\n"
    )
    files, checks = parse_checks(
        "file_exists=[m.json,train_log.txt] "
        "performance_check=[m.json, acc, >=0.5, epoch: -1] "
        "performance_check=[m.json, pruning.delta_A, <0, epoch: -1]"
    )
    assert files == ["m.json", "train_log.txt"]
    assert check_performance(str(tmp_path), checks) == []
    _, failing = parse_checks(
        "performance_check=[m.json, acc, >=0.9, epoch: -1] "
        "performance_check=[m.json, pruning.delta_A, >0, epoch: -1]"
    )
    assert len(check_performance(str(tmp_path), failing)) == 2
    _, other_key = parse_checks(
        "performance_check=[m.json, pruning.delta_A, <pruning.random, epoch: -1]"
        " performance_check=[m.json, acc, <pruning.random, epoch: -1]"
    )
    assert len(check_performance(str(tmp_path), other_key)) == 1
    _, log = parse_checks(
        "performance_check=[train_log.txt, test acc, >=0.75, epoch: -1] "
        "performance_check=[train_log.txt, valid acc, ==0.25, epoch: 1] "
        "performance_check=[train_log.txt, valid acc, >0.25, epoch: 2]"
    )
    assert check_performance(str(tmp_path), log) == []
    with pytest.raises(AssertionError):
        parse_checks("performance_check=[m.json, acc, >=0.5]")  # no epoch field
    with pytest.raises(AssertionError):
        parse_checks("file_exists=[a] acc>=0.5")  # our former syntax


def test_producers_are_found_from_the_flags():
    rows = [
        {"test_debug_flags": "--output_folder=tests/tmp/D/clf --x=1"},
        {
            "test_debug_flags": "--output_folder=tests/tmp/D/lmac "
            "--pretrained_classifier tests/tmp/D/clf/classifier"
        },
        {
            "test_debug_flags": "--output_folder=tests/tmp/D/eval "
            "--pretrained_interpreter=tests/tmp/D/lmac "
            "--other=tests/tmp/D/clfx"
        },
    ]
    assert producer(rows[0], rows) == []
    assert producer(rows[1], rows) == [rows[0]]
    assert producer(rows[2], rows) == [rows[1]]  # clfx is not under clf/


def test_classifier_recipe_under_torchrun_on_cpu(synthetic_data, tmp_path):
    """Two processes with gloo: SpeechBrain's DDP path (our Brains skip SyncBatchNorm on CPU)."""
    recipe = os.path.join(ROOT, "recipes", "ESC50")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "train_classifier.py",
        "hparams/classifier_cnn6.yaml",
        f"--data_folder={synthetic_data('ESC50')}",
        f"--output_folder={tmp_path}",
        "--n_classes=6",
        "--clip_seconds=1.0",
        "--number_of_epochs=1",
        "--distributed_backend=gloo",
        "--device=cpu",
        "--channels=[8,16,16,32]",
    ]
    result = subprocess.run(
        command,
        cwd=recipe,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    with open(tmp_path / "test_metrics.json", encoding="utf-8") as handle:
        assert json.load(handle)["n_clips"] > 0
    assert (tmp_path / "classifier" / "model.ckpt").is_file()
