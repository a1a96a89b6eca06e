"""Training runs killed with SIGKILL at a random point and started again with the same command end with the result of
an uninterrupted run: equal on CPU (same test metrics, bit for bit, and the same trained weights).

Every run here has one thread per process (``resume_tools.recipe_env``). The kill points are drawn at random; the
seed is printed with a failure (``RESUME_TEST_SEED`` replays one).
"""

import pytest
from resume_tools import (
    assert_same_tensors,
    checkpoints,
    exists,
    kill_rng,
    killed_and_resumed,
    make_tiny,
    read_json,
    run_to_end,
    script_command,
)

CLIP_S = 0.5


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny synthetic ESC-50 set (4 classes x 5 clips of 0.5 s: 12 train, 4 valid, 4 test clips) and a small random
    classifier exported for it."""
    return make_tiny(tmp_path_factory.mktemp("resume_data"), CLIP_S)


@pytest.fixture
def rng():
    return kill_rng()


def training_events(out):
    return {
        "checkpoint": lambda: checkpoints(out / "save") >= 1,
        "tested": exists(out / "test_metrics.json"),
    }


def test_classifier_killed_mid_training_resumes_to_the_uninterrupted_result(
    tiny, tmp_path, rng
):
    # augmentation (random gain and shift) draws from the global generator: a resumed run must restore it
    flags = [
        f"--data_folder={tiny['data']}",
        f"--clip_seconds={CLIP_S}",
        "--number_of_epochs=4",
        "--batch_size=4",
        "--channels=[4,8,8,16]",
    ]
    ref, resumed, points = killed_and_resumed(
        tmp_path,
        "train_classifier.py",
        "classifier_cnn6.yaml",
        flags,
        [("checkpoint", "tested")],
        rng,
        training_events,
    )
    assert read_json(resumed / "test_metrics.json") == read_json(
        ref / "test_metrics.json"
    ), points
    assert_same_tensors(
        ref / "classifier" / "model.ckpt", resumed / "classifier" / "model.ckpt"
    )


def test_lmac_killed_mid_training_resumes_to_the_uninterrupted_result(
    tiny, tmp_path, rng
):
    # contaminant mixing (which clips, and with which) draws from the global generator
    flags = [
        f"--data_folder={tiny['data']}",
        f"--pretrained_classifier={tiny['classifier']}",
        f"--clip_seconds={CLIP_S}",
        "--number_of_epochs=4",
        "--batch_size=4",
        "--decoder_width=8",
        "--n_export=1",
    ]
    ref, resumed, points = killed_and_resumed(
        tmp_path,
        "train_lmac.py",
        "lmac_cnn6.yaml",
        flags,
        [("checkpoint", "tested")],
        rng,
        training_events,
    )
    assert read_json(resumed / "test_metrics.json") == read_json(
        ref / "test_metrics.json"
    ), points
    assert_same_tensors(
        ref / "interpreter" / "decoder.ckpt",
        resumed / "interpreter" / "decoder.ckpt",
    )


L2I_FLAGS = [
    f"--clip_seconds={CLIP_S}",
    "--number_of_epochs=4",
    "--batch_size=2",
    "--psi_width=8",
    "--nmf_components=8",
    "--nmf_passes=16",
    "--nmf_batch_size=2",
    "--n_export=1",
    "--valid_metrics_every=1",
]


def l2i_events(out):
    return {
        "nmf_pass": exists(out / "save" / "nmf_state.pt"),
        "nmf_done": exists(out / "nmf" / "dictionary.pt"),
        **training_events(out),
    }


@pytest.fixture(scope="module")
def l2i_runs(tiny, tmp_path_factory):
    """The L2I reference run (one process, uninterrupted), shared by the resume and the torchrun tests."""
    return {
        "flags": [
            f"--data_folder={tiny['data']}",
            f"--pretrained_classifier={tiny['classifier']}",
            *L2I_FLAGS,
        ],
        "folder": tmp_path_factory.mktemp("l2i"),
    }


def test_l2i_and_its_nmf_killed_mid_run_resume_to_the_uninterrupted_result(
    l2i_runs, rng
):
    """train_l2i.py without --nmf_dictionary learns the NMF first: one kill lands while the NMF streams over the
    clips (it resumes from its last saved pass), one while L2I trains."""
    ref, resumed, points = killed_and_resumed(
        l2i_runs["folder"],
        "train_l2i.py",
        "l2i_cnn6.yaml",
        l2i_runs["flags"],
        [("nmf_pass", "nmf_done"), ("checkpoint", "tested")],
        rng,
        l2i_events,
    )
    assert_same_tensors(
        ref / "nmf" / "dictionary.pt", resumed / "nmf" / "dictionary.pt"
    )
    assert read_json(resumed / "test_metrics.json") == read_json(
        ref / "test_metrics.json"
    ), points
    assert_same_tensors(
        ref / "interpreter" / "decoder.ckpt",
        resumed / "interpreter" / "decoder.ckpt",
    )


# ---- torchrun: 2 CPU processes (gloo) against the one-process run -------------------------------------------------
# Each global batch of the one-process run is split in two halves, one per process, and DDP averages their
# gradients: the whole batch's gradient up to float summation order (~1e-7 relative). Valid / test clips are split
# in two blocks and the metrics gathered: a fixed model's metrics are equal (measured: bit for bit, 0 epochs).
# Training: Adam divides each gradient by its running RMS, so a parameter whose gradient is at rounding level
# moves by about +-lr per step with the sign of the rounding noise; those parameters barely matter, but the metrics
# drift a little with the steps. Measured (this data, seeded): L2I after 24 steps within 1e-7 relative (tolerance
# 1e-4); L-MAC after 12 steps within 3.3e-4 relative (1.4e-3 after 18; tolerance 1e-2: its deepest lateral conv has
# near-zero gradients). Training each process on its own shuffle instead (SpeechBrain's DDP sampler) moved the
# L-MAC metrics by 1-4 %, and evaluating each process's half only changes n_clips, checked exactly.
def assert_close_metrics(ref, ddp, rtol, atol=1e-5):
    a, b = (
        read_json(ref / "test_metrics.json"),
        read_json(ddp / "test_metrics.json"),
    )
    assert a.keys() == b.keys()
    assert a["n_clips"] == b["n_clips"]
    far = {
        k: (a[k], b[k]) for k in a if abs(a[k] - b[k]) > atol + rtol * abs(a[k])
    }
    assert not far, f"torchrun differs from one process: {far}"


def assert_close_weights(path_a, path_b, atol=1e-4):
    import torch

    a = torch.load(path_a, map_location="cpu", weights_only=True)
    b = torch.load(path_b, map_location="cpu", weights_only=True)
    worst = max(
        float((a[k].float() - b[k].float()).abs().max())
        for k in a
        if a[k].is_floating_point()
    )
    assert worst <= atol, f"weights differ by up to {worst:.3g}"


def test_lmac_under_torchrun_gives_the_one_process_result(tiny, tmp_path):
    # contaminant mixing off: each process would draw its own mixing and mix within its half of the batch
    flags = [
        f"--data_folder={tiny['data']}",
        f"--pretrained_classifier={tiny['classifier']}",
        f"--clip_seconds={CLIP_S}",
        "--number_of_epochs=2",
        "--batch_size=2",
        "--decoder_width=8",
        "--n_export=1",
        "--contaminant_prob=0",
    ]
    for name, processes in (("one", 0), ("ddp", 2)):
        command, cwd = script_command(
            "ESC50",
            "train_lmac.py",
            "lmac_cnn6.yaml",
            [*flags, f"--output_folder={tmp_path / name}"],
            torchrun=processes,
        )
        run_to_end(command, cwd, tmp_path / f"{name}.log")
    assert_close_metrics(tmp_path / "one", tmp_path / "ddp", rtol=1e-2)


def test_l2i_under_torchrun_gives_the_one_process_result(l2i_runs):
    folder = l2i_runs["folder"]
    if not (folder / "ref" / "test_metrics.json").is_file():
        command, cwd = script_command(
            "ESC50",
            "train_l2i.py",
            "l2i_cnn6.yaml",
            [*l2i_runs["flags"], f"--output_folder={folder / 'ref'}"],
        )
        run_to_end(command, cwd, folder / "ref.log")
    command, cwd = script_command(
        "ESC50",
        "train_l2i.py",
        "l2i_cnn6.yaml",
        [*l2i_runs["flags"], f"--output_folder={folder / 'ddp'}"],
        torchrun=2,
    )
    run_to_end(command, cwd, folder / "ddp.log")
    assert_same_tensors(
        folder / "ref" / "nmf" / "dictionary.pt",
        folder / "ddp" / "nmf" / "dictionary.pt",
    )
    assert_close_metrics(folder / "ref", folder / "ddp", rtol=1e-4)
    assert_close_weights(
        folder / "ref" / "interpreter" / "decoder.ckpt",
        folder / "ddp" / "interpreter" / "decoder.ckpt",
    )
