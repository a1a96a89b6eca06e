"""A data preparation killed with SIGKILL between its manifest files never leaves a folder that a later run takes for a
finished preparation: not one started with other folds, not one with ``skip_prep``.

The kills are real: a subprocess prepares the data once per kill point, in a forked child that sends itself SIGKILL
right after the k-th manifest file is written (train.json, valid.json, test.json, classes.json; prepare_opts.json,
written last, marks a finished preparation).
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from interpretability.data.esc50 import prepare_esc50
from interpretability.data.synthetic import generate_dataset
from interpretability.errors import DataError

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
FOLDS_A = dict(train_folds=[1, 2, 3], valid_folds=[4], test_folds=[5])
FOLDS_B = dict(train_folds=[2, 3, 4], valid_folds=[5], test_folds=[1])
KILLED_AFTER = {
    1: "train.json",
    2: "valid.json",
    3: "test.json",
    4: "classes.json",
}

CHILD = textwrap.dedent("""
    import json, os, signal, sys
    import interpretability.data.manifest as mf
    from interpretability.data.esc50 import prepare_esc50

    data, folders, folds = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
    for k, save_folder in folders.items():
        pid = os.fork()
        if pid == 0:
            written, write = [0], mf.atomic_write_json

            def killing_write(path, value, **kwargs):
                write(path, value, **kwargs)
                written[0] += 1
                if written[0] == int(k):
                    os.kill(os.getpid(), signal.SIGKILL)

            mf.atomic_write_json = killing_write
            prepare_esc50(data, save_folder, check_audio=False, **folds)
            os._exit(0)  # not killed: a failure the parent reports
        _, status = os.waitpid(pid, 0)
        print(k, os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL)
""")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("prep_data")
    generate_dataset(
        str(folder),
        layout="esc50",
        clips_per_class=5,
        duration=0.25,
        n_classes=3,
        seed=1,
        show_progress=False,
    )
    return str(folder)


def manifests(folder):
    return {
        name: json.load(
            open(os.path.join(folder, f"{name}.json"), encoding="utf-8")
        )
        for name in ("train", "valid", "test", "classes")
    }


def test_a_preparation_killed_between_its_files_is_never_trusted(
    data, tmp_path
):
    prepared = tmp_path / "prepared_a"
    prepare_esc50(data, str(prepared), check_audio=False, **FOLDS_A)
    fresh_b = tmp_path / "fresh_b"
    prepare_esc50(data, str(fresh_b), check_audio=False, **FOLDS_B)

    folders = {}
    for k in KILLED_AFTER:  # each starts from a finished preparation with folds A, re-prepared with folds B
        folders[k] = str(tmp_path / f"killed_{k}")
        shutil.copytree(prepared, folders[k])
    env = dict(
        os.environ,
        PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
        OMP_NUM_THREADS="1",
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            data,
            json.dumps(folders),
            json.dumps(FOLDS_B),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == [
        token for k in KILLED_AFTER for token in (str(k), "True")
    ], result.stdout

    for k, folder in folders.items():
        written = KILLED_AFTER[k]
        assert not os.path.exists(os.path.join(folder, "prepare_opts.json")), (
            written
        )
        # a run with skip_prep must refuse the half-written folder rather than read A's and B's files mixed
        with pytest.raises(DataError, match="interrupted"):
            prepare_esc50(
                data, folder, check_audio=False, skip_prep=True, **FOLDS_B
            )
        # a run without it prepares again, with either folds, and gets what a fresh preparation writes
        prepare_esc50(data, folder, check_audio=False, **FOLDS_B)
        assert manifests(folder) == manifests(fresh_b), written
        prepare_esc50(data, folder, check_audio=False, **FOLDS_A)
        assert manifests(folder) == manifests(prepared), written
