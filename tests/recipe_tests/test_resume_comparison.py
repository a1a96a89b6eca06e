"""The comparison (evaluate.py) killed with SIGKILL while it scores clips and while its sanity check retrains models,
then started again with the same command, writes the comparison.json of an uninterrupted run; under torchrun with 2
processes it writes that same file.

Equal means equal: every (condition, batch) is scored on the same clips with random draws seeded from the batch's
index, a resumed run reads the scores the killed one wrote (their floats round-trip through JSON exactly), under
torchrun each process scores whole batches and the main process reads them back in batch order, and the sanity
check's models are trained from fixed seeds (cached on disk once trained).
"""

import pytest
from resume_tools import (
    exists,
    kill_rng,
    killed_and_resumed,
    make_tiny,
    read_json,
    run_to_end,
    script_command,
)

FLAGS = [
    "--clip_seconds=0.5",
    "--max_clips=4",
    "--batch_size=1",
    "--methods=[saliency,gradcam]",
    "--mel_domain_baselines=False",
    "--conditions=[in_domain,other_class_mixture,white_noise]",
    "--sanity_clips=2",
    "--sanity_steps=2",
    "--sanity_retrain=True",
    "--sanity_retrain_epochs=1",
    "--sanity_retrain_clips=8",
    "--sanity_classifier_epochs=2",
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    paths = make_tiny(
        tmp_path_factory.mktemp("comparison_data"), with_lmac=True
    )
    flags = [
        f"--data_folder={paths['data']}",
        f"--pretrained_classifier={paths['classifier']}",
        f"--pretrained_interpreter={paths['lmac']}",
        *FLAGS,
    ]
    return {"flags": flags, "folder": tmp_path_factory.mktemp("comparison")}


def events(out):
    return {
        "scoring": exists(out / "comparison.partial.jsonl"),
        "retraining": exists(out / "sanity" / "models.json"),
        "done": exists(out / "comparison.json"),
    }


def test_comparison_killed_while_scoring_and_while_retraining_resumes_to_the_uninterrupted_result(
    setup,
):
    ref, resumed, points = killed_and_resumed(
        setup["folder"],
        "evaluate.py",
        "evaluate_cnn6.yaml",
        setup["flags"],
        [("scoring", "retraining"), ("retraining", "done")],
        kill_rng(),
        events,
    )
    result = read_json(resumed / "comparison.json")
    assert result == read_json(ref / "comparison.json"), points
    assert (
        result["in_domain"]["lmac"]["n_rows"] == 4
        and "lmac" in result["sanity_retrained"]
    )
    assert not list(resumed.glob("comparison.partial*")), (
        "partial records left after the final files"
    )
    log = (setup["folder"] / "resumed.log").read_text(
        encoding="utf-8", errors="replace"
    )
    assert "already scored" in log, (
        "the restarted comparison scored every clip again"
    )


def test_comparison_under_torchrun_gives_the_one_process_result(setup):
    folder = setup["folder"]
    if not (folder / "ref" / "comparison.json").is_file():
        command, cwd = script_command(
            "ESC50",
            "evaluate.py",
            "evaluate_cnn6.yaml",
            [*setup["flags"], f"--output_folder={folder / 'ref'}"],
        )
        run_to_end(command, cwd, folder / "ref.log")
    command, cwd = script_command(
        "ESC50",
        "evaluate.py",
        "evaluate_cnn6.yaml",
        [*setup["flags"], f"--output_folder={folder / 'ddp'}"],
        torchrun=2,
    )
    run_to_end(command, cwd, folder / "ddp.log")
    assert read_json(folder / "ddp" / "comparison.json") == read_json(
        folder / "ref" / "comparison.json"
    )
    assert "processes = 2" in (folder / "ddp" / "comparison.md").read_text(
        encoding="utf-8"
    )  # the clips were split
