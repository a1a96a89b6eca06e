"""AND (dissect_and.py) killed with SIGKILL at a random point of its stages and started again with the same command
writes the files of an uninterrupted run; under torchrun with 2 processes (activations and descriptions split across
them, merged by the main process) it writes the same stage files.

Every stage writes its file atomically and is skipped once it is there; descriptions and pruning runs resume item by
item from their ``*.partial.jsonl`` (interpretability/dissection/pipeline.py).
"""

import pytest
from resume_tools import (
    assert_same_tensors,
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
    "--probing_splits=[valid,test]",
    "--top_k=3",
    "--neurons_per_layer=4",
    "--random_repeats=1",
    "--pruning_strategies=[db,label]",
    "--n_clusters=3",
    "--batch_size=2",
]
COMPARED = [
    "test_metrics.json",
    "neurons_head.json",
    "neurons_encoder.conv_block4.json",
    "descriptions.json",
    "summaries.json",
    "pruning.json",
    "top_k.json",
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    paths = make_tiny(tmp_path_factory.mktemp("dissection_data"))
    return {
        "flags": [
            f"--data_folder={paths['data']}",
            f"--pretrained_classifier={paths['classifier']}",
            *FLAGS,
        ],
        "folder": tmp_path_factory.mktemp("dissection"),
    }


def events(out):
    names = {
        "probing": "probing.json",
        "descriptions": "descriptions.json",
        "summaries": "summaries.json",
        "pruning": "pruning.json",
        "done": "test_metrics.json",
    }
    return {event: exists(out / name) for event, name in names.items()}


def test_dissection_killed_in_its_stages_resumes_to_the_uninterrupted_result(
    setup,
):
    ref, resumed, points = killed_and_resumed(
        setup["folder"],
        "dissect_and.py",
        "and_cnn6.yaml",
        setup["flags"],
        [("probing", "done")],
        kill_rng(),
        events,
    )
    for name in COMPARED:
        assert read_json(resumed / name) == read_json(ref / name), (
            name,
            points,
        )
    assert not list(resumed.glob("*.partial.jsonl")) and not list(
        resumed.glob("activations.rank*")
    )


def test_dissection_under_torchrun_gives_the_one_process_result(setup):
    folder = setup["folder"]
    if not (folder / "ref" / "test_metrics.json").is_file():
        command, cwd = script_command(
            "ESC50",
            "dissect_and.py",
            "and_cnn6.yaml",
            [*setup["flags"], f"--output_folder={folder / 'ref'}"],
        )
        run_to_end(command, cwd, folder / "ref.log")
    # only the stages torchrun splits (activations, descriptions) and what is built right on them
    skip = "--skip_stages=[summaries,icl,open_concepts,pruning,analysis,label_based,agreement]"
    command, cwd = script_command(
        "ESC50",
        "dissect_and.py",
        "and_cnn6.yaml",
        [*setup["flags"], skip, f"--output_folder={folder / 'ddp'}"],
        torchrun=2,
    )
    run_to_end(command, cwd, folder / "ddp.log")
    for name in ("descriptions.json", "top_k.json"):
        assert read_json(folder / "ddp" / name) == read_json(
            folder / "ref" / name
        ), name
    for name in ("activations.pt", "closed_db.pt"):
        assert_same_tensors(folder / "ddp" / name, folder / "ref" / name)
    assert not list((folder / "ddp").glob("*.rank*")), (
        "per-process shards left behind"
    )
