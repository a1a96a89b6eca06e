"""Comparing two demo summaries figure by figure, and the README's claim that a fresh clone gives its figures."""

import json
import math
import os

from interpretability.report.reproduction import (
    compare,
    figures,
    fingerprint,
    main,
)

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)


def _summary(**changes):
    summary = {
        "seconds": {"classifier": 100.0},
        "setup_seconds": 64,
        "machine": "AMD EPYC, 2 CPUs",
        "settings": {"seed": 0, "precision": "bf16"},
        "classifier": {"acc": 0.9, "confident": True},
        "comparison": {"in_domain": {"lmac": {"AI": 70.0, "IoU": math.nan}}},
        "rows": [1, 2.5],
    }
    for path, value in changes.items():
        node = summary
        *parents, last = path.split("__")
        for key in parents:
            node = node[key]
        node[last] = value
    return summary


def test_figures_are_the_numbers_with_paths_but_not_the_run_description():
    found = figures(_summary())
    assert found == {
        "/settings/seed": 0,
        "/classifier/acc": 0.9,
        "/classifier/confident": 1,
        "/comparison/in_domain/lmac/AI": 70.0,
        "/comparison/in_domain/lmac/IoU": "nan",
        "/rows[0]": 1,
        "/rows[1]": 2.5,
    }


def test_compare_finds_each_changed_figure_and_ignores_times():
    same = compare(
        _summary(),
        _summary(
            seconds={"classifier": 80.0}, setup_seconds=90, machine="other"
        ),
    )
    assert same["figures"] == 7 and same["differing"] == []
    changed = compare(
        _summary(), _summary(classifier__acc=0.85, classifier__epoch=3)
    )
    assert changed["differing"] == [("/classifier/acc", 0.9, 0.85)]
    assert changed["only_in_other"] == ["/classifier/epoch"]
    assert fingerprint(_summary()) == fingerprint(_summary(seconds={"x": 1.0}))
    assert fingerprint(_summary()) != fingerprint(_summary(rows=[1, 2.6]))


def test_the_command_records_the_comparison_and_fails_on_a_difference(
    tmp_path,
):
    a, b, record = (
        tmp_path / "a.json",
        tmp_path / "b.json",
        tmp_path / "record.json",
    )
    a.write_text(json.dumps(_summary()))
    b.write_text(json.dumps(_summary(seconds={"classifier": 1.0})))
    assert main([str(a), str(b), "--record", str(record)]) == 0
    b.write_text(json.dumps(_summary(classifier__acc=0.1)))
    assert main([str(a), str(b), "--record", str(record)]) == 1
    records = json.loads(record.read_text())
    assert [r["differing"] for r in records] == [0, 1]
    assert records[0]["fingerprint"] == fingerprint(_summary())
    assert records[0]["machine"] == "AMD EPYC, 2 CPUs"


def test_data_fingerprint_is_of_the_paths_and_bytes(tmp_path):
    from interpretability.report.reproduction import folder_fingerprint

    (tmp_path / "a" / "audio").mkdir(parents=True)
    (tmp_path / "a" / "audio" / "1.wav").write_bytes(b"RIFF1")
    (tmp_path / "a" / "meta.csv").write_text("x,y\n")
    first = folder_fingerprint(tmp_path / "a")
    assert len(first) == 16 and folder_fingerprint(tmp_path / "a") == first
    (tmp_path / "a" / "audio" / "1.wav").write_bytes(b"RIFF2")
    assert folder_fingerprint(tmp_path / "a") != first
    (tmp_path / "a" / "audio" / "1.wav").write_bytes(b"RIFF1")
    (tmp_path / "a" / "audio" / "1.wav").rename(
        tmp_path / "a" / "audio" / "2.wav"
    )
    assert folder_fingerprint(tmp_path / "a") != first


def test_the_command_says_whether_the_runs_had_the_same_data(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({**_summary(), "data_fingerprint": "0123"}))
    b.write_text(json.dumps({**_summary(), "data_fingerprint": "0123"}))
    assert main([str(a), str(b)]) == 0
    assert "same data (fingerprint 0123)" in capsys.readouterr().out
    b.write_text(json.dumps({**_summary(), "data_fingerprint": "4567"}))
    main([str(a), str(b)])
    assert "the data differ (0123 vs 4567)" in capsys.readouterr().out


def test_a_fresh_clone_gave_the_figures_of_the_readmes_run():
    """README: the committed summary's figures were all given again by another fresh-clone run on its machine."""
    with open(
        os.path.join(ROOT, "docs", "demo_summary.json"), encoding="utf-8"
    ) as handle:
        summary = json.load(handle)
    with open(
        os.path.join(ROOT, "docs", "experiments", "demo_reproduction.json"),
        encoding="utf-8",
    ) as handle:
        records = json.load(handle)
    again = [
        r
        for r in records
        if r["fingerprint"] == fingerprint(summary)
        and r["machine"] == summary["machine"]
    ]
    assert again, "no recorded run gave the committed summary's figures"
    assert again[-1]["differing"] == 0 and again[-1]["only_in_one"] == 0
    assert again[-1]["figures"] == len(figures(summary))
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    assert f"gave the same {len(figures(summary)):,} figures" in readme
