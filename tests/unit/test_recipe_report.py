"""``--report True`` on any recipe: after the run, the main process writes the report of its output folder, with
the models it explains from outside that folder (evaluate.py's ``--pretrained_*``)."""

import interpretability.report as report_package
from interpretability.recipe import (
    RECIPE_DEFAULTS,
    RESUMABLE_CHANGES,
    with_recipe_defaults,
    write_requested_report,
)


def test_every_recipe_takes_report_off_by_default_and_may_turn_it_on_when_resumed():
    assert RECIPE_DEFAULTS["report"] == "False"
    assert "report: False" in with_recipe_defaults("seed: 1\n")
    assert with_recipe_defaults("report: True\n").count("report:") == 1
    assert "report" in RESUMABLE_CHANGES


def test_the_report_is_written_only_when_asked(tmp_path, monkeypatch):
    calls = []

    def fake_write_report(results_dir, **kwargs):
        calls.append((results_dir, kwargs))
        return f"{results_dir}/report/index.html"

    monkeypatch.setattr(report_package, "write_report", fake_write_report)
    out = tmp_path / "run"
    out.mkdir()
    assert write_requested_report(None) is None
    assert (
        write_requested_report({"output_folder": str(out), "report": False})
        is None
    )
    assert not calls
    path = write_requested_report({"output_folder": str(out), "report": True})
    assert path == f"{out}/report/index.html"
    assert calls == [(str(out), {"classifier": None, "interpreters": None})]


def test_the_explained_models_outside_the_output_folder_go_into_the_report(
    tmp_path, monkeypatch
):
    calls = []
    monkeypatch.setattr(
        report_package,
        "write_report",
        lambda results_dir, **kwargs: calls.append(kwargs) or "index.html",
    )
    classifier_run = tmp_path / "classifier_run"
    (classifier_run / "classifier").mkdir(parents=True)
    (classifier_run / "classifier" / "model.ckpt").write_bytes(b"")
    lmac = tmp_path / "lmac"
    lmac.mkdir()
    hparams = {
        "output_folder": str(tmp_path / "evaluate"),
        "report": True,
        "pretrained_classifier": str(
            classifier_run
        ),  # a run folder: its export is used
        "pretrained_interpreter": str(lmac),
        "pretrained_l2i": "speechbrain/some-hub-id",  # not a folder here: left out
    }
    write_requested_report(hparams)
    assert calls == [
        {
            "classifier": str(classifier_run / "classifier"),
            "interpreters": {"lmac": str(lmac)},
        }
    ]
    hparams["pretrained_classifier"] = str(tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    write_requested_report(hparams)
    assert calls[-1]["classifier"] is None
