import json
import os

import pytest
import torch

from interpretability.results import (
    atomic_write_json,
    summarize_runs,
    write_stage_metrics,
)


def test_stage_metrics_are_plain_json(tmp_path):
    path = write_stage_metrics(
        str(tmp_path),
        "test",
        {"acc": torch.tensor(0.5), "nested": {"a": torch.tensor(1)}},
    )
    assert path.endswith("test_metrics.json")
    assert json.loads(open(path).read()) == {"acc": 0.5, "nested": {"a": 1}}


def test_failed_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "m.json"
    atomic_write_json(path, {"acc": 0.9})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"acc": object()})
    assert json.loads(path.read_text()) == {"acc": 0.9}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_summarize_runs_mean_and_sample_std(tmp_path):
    files = []
    for fold, acc in enumerate([0.7, 0.8, 0.9], start=1):
        files.append(str(tmp_path / f"fold{fold}.json"))
        atomic_write_json(files[-1], {"acc": acc, "note": "x"})
    summary = summarize_runs(files)
    assert set(summary) == {"acc"}
    assert summary["acc"]["mean"] == pytest.approx(0.8)
    assert summary["acc"]["std"] == pytest.approx(
        0.1
    )  # sqrt(((-.1)^2 + 0 + .1^2) / 2)
    assert list(summary["acc"]["runs"].values()) == [0.7, 0.8, 0.9]


def test_result_files_are_ordinary_files(tmp_path):
    import stat

    from interpretability.results import atomic_write_json

    path = tmp_path / "m.json"
    atomic_write_json(str(path), {"a": 1})
    mode = stat.S_IMODE(os.stat(path).st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
