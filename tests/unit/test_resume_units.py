"""The pieces of resume and DDP, in one process: what the recipe tests (tests/recipes/test_resume_*.py) rely on."""

import json
import os
import random

import numpy as np
import pytest
import torch

from interpretability.brains.distributed import (
    BlockSampler,
    SplitBatchSampler,
    block,
)
from interpretability.brains.l2i import NMFCheckpoint, batch_generator
from interpretability.brains.resume import (
    RandomState,
    atomic_checkpoints,
    make_resumable,
)
from interpretability.evaluation.comparison import ComparisonRecords
from interpretability.interpreters.nmf import SparseNMF
from speechbrain.dataio.sampler import ReproducibleRandomSampler
from speechbrain.utils.checkpoints import Checkpointer


def test_split_batches_are_the_one_process_batches_split_across_ranks():
    dataset = list(range(11))
    one = SplitBatchSampler(dataset, 4, rank=0, world_size=1)
    ranks = [
        SplitBatchSampler(dataset, 4, rank=r, world_size=2) for r in (0, 1)
    ]
    for epoch in (1, 2):
        for sampler in (one, *ranks):
            sampler.set_epoch(epoch)
        batches = list(one)
        parts = [list(sampler) for sampler in ranks]
        assert (
            len(parts[0]) == len(parts[1]) == len(batches) == len(one) == 3
        )  # DDP needs equal counts
        for whole, first, second in zip(batches, *parts):
            assert first + second == whole and len(first) - len(second) in (
                0,
                1,
            )
        assert sorted(i for b in batches for i in b) == dataset
        # the order of SpeechBrain's own one-process train loader (ReproducibleRandomSampler, SB_GLOBAL_SEED)
        reference = ReproducibleRandomSampler(
            dataset, seed=int(os.environ.get("SB_GLOBAL_SEED", 563375142))
        )
        reference.set_epoch(epoch)
        assert [i for b in batches for i in b] == list(reference)
    one.set_epoch(1)
    first_epoch = list(one)
    one.set_epoch(2)
    assert list(one) != first_epoch  # reshuffled per epoch, from (seed, epoch)
    tiny = [
        list(
            SplitBatchSampler(
                list(range(5)), 4, rank=r, world_size=2, shuffle=False
            )
        )
        for r in (0, 1)
    ]
    assert tiny == [
        [[0, 1], [4]],
        [[2, 3], [4]],
    ]  # a last batch of one clip: both ranks get it


def test_blocks_cover_every_clip_once_in_order():
    for n in (0, 1, 5, 8):
        blocks = [list(BlockSampler(n, r, 3)) for r in range(3)]
        assert sum(blocks, []) == list(range(n))
        assert max(map(len, blocks)) - min(map(len, blocks)) <= 1
    assert list(block(5, 1, 2)) == [3, 4]


def test_random_state_is_restored_with_its_generators(tmp_path):
    extra = torch.Generator().manual_seed(5)
    state = RandomState({"bank": extra})
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    state._save(tmp_path / "rng.ckpt")
    expected = (
        torch.rand(3),
        np.random.rand(3),
        random.random(),
        torch.rand(2, generator=extra),
    )
    (
        torch.manual_seed(9),
        np.random.seed(9),
        random.seed(9),
        extra.manual_seed(9),
    )
    state._recover(tmp_path / "rng.ckpt")
    got = (
        torch.rand(3),
        np.random.rand(3),
        random.random(),
        torch.rand(2, generator=extra),
    )
    assert torch.equal(got[0], expected[0]) and np.array_equal(
        got[1], expected[1]
    )
    assert got[2] == expected[2] and torch.equal(got[3], expected[3])


class _Exploding(torch.nn.Module):
    """A recoverable whose save dies half-way (as a SIGKILL would) once ``armed``."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(2))
        self.armed = False

    def state_dict(self, *args, **kwargs):
        if self.armed:
            raise KeyboardInterrupt("killed while saving")
        return super().state_dict(*args, **kwargs)


def test_a_checkpoint_cut_short_while_saving_is_never_recovered(tmp_path):
    module = _Exploding()
    checkpointer = Checkpointer(tmp_path, recoverables={"module": module})
    make_resumable(checkpointer)
    checkpointer.save_checkpoint(meta={"epoch": 1})
    module.armed = True
    with pytest.raises(KeyboardInterrupt):
        checkpointer.save_checkpoint(meta={"epoch": 2})
    folders = sorted(os.listdir(tmp_path))
    assert (
        len(folders) == 2
    )  # the cut-short folder is there, but holds no CKPT.yaml
    assert [c.meta["epoch"] for c in checkpointer.list_checkpoints()] == [1]
    module.armed = False
    restarted = Checkpointer(tmp_path, recoverables={"module": module})
    atomic_checkpoints(restarted)  # on start: the incomplete folder is removed
    assert (
        len(os.listdir(tmp_path)) == 1
        and restarted.recover_if_possible().meta["epoch"] == 1
    )


def _frames(n, seed):
    return (
        torch.rand(n, 513, generator=torch.Generator().manual_seed(seed)) ** 4
    )


def test_nmf_state_continues_exactly_and_other_settings_are_not_resumed(
    tmp_path,
):
    batches = [_frames(40, seed) for seed in range(6)]
    whole = SparseNMF(8, seed=3, code_iterations=10)
    for frames in batches:
        whole.partial_fit(frames)
    first = SparseNMF(8, seed=3, code_iterations=10)
    config = {"learner": first.config, "passes": 1}
    checkpoint = NMFCheckpoint(
        str(tmp_path / "nmf_state.pt"), config, {"ckpt_interval_steps": 2}
    )
    for index, frames in enumerate(batches[:3]):
        first.partial_fit(frames)
        checkpoint.step(first, 0, index + 1)  # saves after batch 2 only
    resumed = SparseNMF(8, seed=3, code_iterations=10)
    assert NMFCheckpoint(checkpoint.path, config).resume(resumed) == (0, 2)
    for frames in batches[2:]:
        resumed.partial_fit(frames)
    assert torch.equal(resumed.dictionary, whole.dictionary) and torch.equal(
        resumed.stats_b, whole.stats_b
    )
    other = SparseNMF(8, seed=3, code_iterations=10)
    assert NMFCheckpoint(checkpoint.path, {**config, "passes": 2}).resume(
        other
    ) == (0, 0)
    assert other.dictionary is None


def test_l2i_random_control_of_a_batch_depends_on_its_clips_only():
    first = torch.rand(4, generator=batch_generator(7, ["a", "b"]))
    assert torch.equal(
        first, torch.rand(4, generator=batch_generator(7, ["a", "b"]))
    )
    assert not torch.equal(
        first, torch.rand(4, generator=batch_generator(7, ["a", "c"]))
    )
    assert not torch.equal(
        first, torch.rand(4, generator=batch_generator(8, ["a", "b"]))
    )


def test_comparison_records_resume_drop_a_cut_line_and_forget_other_settings(
    tmp_path,
):
    records = ComparisonRecords(str(tmp_path), {"methods": ["m"]}).open()
    records.append("in_domain", 1, ["c"], {"m": {"AI": torch.tensor([3.0])}})
    records.append(
        "in_domain",
        0,
        ["a", "b"],
        {"m": {"AI": torch.tensor([1.0, float("nan")])}},
    )
    records.close()
    with open(records.own_path(), "a", encoding="utf-8") as handle:
        handle.write(
            '{"condition": "in_domain", "batch": 2, "ids": ["d"], "sco'
        )  # killed mid-line
    again = ComparisonRecords(str(tmp_path), {"methods": ["m"]}).open()
    assert (
        ("in_domain", 0) in again
        and ("in_domain", 1) in again
        and ("in_domain", 2) not in again
    )
    again.append("in_domain", 2, ["d"], {"m": {"AI": torch.tensor([5.0])}})
    collector = again.collectors(["in_domain"], ["m"])["in_domain"]["m"]
    assert collector.ids == [
        "a",
        "b",
        "c",
        "d",
    ]  # batch order, whatever order they were scored in
    assert collector.summarize()["AI"] == pytest.approx(
        3.0
    )  # NaN round-trips and is left out
    with open(again.own_path(), encoding="utf-8") as handle:
        assert all(
            json.loads(line) for line in handle
        )  # the cut line is gone, the next record on its own line
    other = ComparisonRecords(str(tmp_path), {"methods": ["m", "n"]}).open()
    assert not other.done and not other.paths()
