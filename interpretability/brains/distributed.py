"""DDP for our Brains: CPU (gloo) support, the one-process batches split across processes, and evaluation that
covers each clip once and gathers its metrics.

Under ``torchrun`` SpeechBrain 1.1 gives every process its own batches of ``batch_size`` (a global batch of
``world_size * batch_size``, shuffled by another sampler than the one-process run) and evaluates the whole
valid / test sets on every process. :class:`CPUDistributedMixin` instead

- trains on the one-process run's batches: the same shuffled order (SpeechBrain's ``ReproducibleRandomSampler``,
  same seed and epoch), each batch of ``batch_size`` split into ``world_size`` contiguous parts, one per process
  (:class:`SplitBatchSampler`). DDP averages the parts' gradients, which is the whole batch's gradient when the
  loss is a per-clip mean and the parts are of one size; so ``batch_size`` stays the global batch size and a run
  under torchrun follows the one-process run up to float summation order (and the random draws each process
  makes, e.g. contaminant mixing);
- evaluates each rank on a contiguous block of the valid / test clips (:class:`BlockSampler`) and gathers what it
  collected (:func:`gather_lists`), so every process ends the stage with the metrics over all clips, in the
  one-process order, and the main process writes them once;
- reports the stage loss as the mean over clips (batch losses weighted by their size), summed over processes.
"""

import os

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Sampler

import speechbrain as sb
from speechbrain.dataio.sampler import ReproducibleRandomSampler


def world():
    """``(rank, world_size)``; ``(0, 1)`` outside torchrun."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def block(n, rank, world_size):
    """Contiguous block of ``range(n)`` for ``rank`` (sizes differ by at most one; blocks in rank order give
    ``range(n)``)."""
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (1 if rank < extra else 0))


class BlockSampler(Sampler):
    """This rank's contiguous block of a dataset of ``n`` items, in order (no padding: each item is seen once)."""

    def __init__(self, n, rank, world_size):
        self.indices = block(n, rank, world_size)

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return len(self.indices)


class SplitBatchSampler(Sampler):
    """Batch sampler of one rank: the batches of ``batch_size`` of the one-process run (shuffled by SpeechBrain's
    ``ReproducibleRandomSampler`` with ``seed`` and the epoch, or in order), each split into ``world_size``
    contiguous parts, this rank's part yielded. A batch smaller than ``world_size`` (the last one) gives the ranks
    it cannot cover one of its clips again, so every rank runs the same number of batches (DDP needs it)."""

    def __init__(
        self,
        dataset,
        batch_size,
        rank,
        world_size,
        shuffle=True,
        drop_last=False,
        seed=None,
    ):
        if (
            seed is None
        ):  # what SpeechBrain's one-process train loader uses (seed_everything sets it)
            seed = int(os.environ.get("SB_GLOBAL_SEED", 563375142))
        self.n = len(dataset)
        self.batch_size, self.rank, self.world_size = (
            int(batch_size),
            int(rank),
            int(world_size),
        )
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.order = (
            ReproducibleRandomSampler(range(self.n), seed=seed)
            if shuffle
            else None
        )
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch
        if self.order is not None:
            self.order.set_epoch(epoch)

    def __iter__(self):
        indices = (
            list(self.order) if self.order is not None else list(range(self.n))
        )
        for start in range(0, len(indices), self.batch_size):
            chunk = indices[start : start + self.batch_size]
            if self.drop_last and len(chunk) < self.batch_size:
                return
            if len(chunk) < self.world_size:
                yield [chunk[self.rank % len(chunk)]]
            else:
                yield [
                    chunk[i]
                    for i in block(len(chunk), self.rank, self.world_size)
                ]

    def __len__(self):
        if self.drop_last:
            return self.n // self.batch_size
        return -(-self.n // self.batch_size)


def gather_lists(state):
    """Every process's ``state`` (a dict of lists, or of dicts of lists) joined in rank order, on every process;
    ``state`` itself outside torchrun."""
    rank, world_size = world()
    if world_size == 1:
        return state
    gathered = [None] * world_size
    torch.distributed.all_gather_object(gathered, state)
    merged = {}
    for part in gathered:
        for key, value in part.items():
            if isinstance(value, dict):
                target = merged.setdefault(key, {})
                for name, values in value.items():
                    target.setdefault(name, []).extend(values)
            else:
                merged.setdefault(key, []).extend(value)
    return merged


def gather_collector(collector):
    """Make ``collector`` (a :class:`~interpretability.metrics.stats.MetricCollector`, or a subclass with more list
    attributes) hold the values of every process, in rank order. No-op outside torchrun."""
    if world()[1] == 1:
        return collector
    state = {
        key: value
        for key, value in vars(collector).items()
        if key != "summary"
        and (
            isinstance(value, list)
            or (
                isinstance(value, dict)
                and all(isinstance(v, list) for v in value.values())
            )
        )
    }
    for key, value in gather_lists(state).items():
        setattr(collector, key, value)
    return collector


def sum_over_processes(*values):
    """The sums over processes of the floats ``values`` (themselves outside torchrun)."""
    if world()[1] == 1:
        return values
    tensor = torch.tensor(values, dtype=torch.float64)
    torch.distributed.all_reduce(tensor)
    return tuple(float(v) for v in tensor)


class CPUDistributedMixin:
    """DDP for our Brains (see the module docstring).

    SpeechBrain 1.1 converts every module to ``SyncBatchNorm`` under DDP, which only runs on GPUs, so ``torchrun``
    on CPU fails. On CPU, wrap modules with plain DDP (batch-norm statistics stay per process); on GPUs keep
    SpeechBrain's behaviour."""

    def _wrap_distributed(self):
        if not self.distributed_launch or not str(self.device).startswith(
            "cpu"
        ):
            return super()._wrap_distributed()
        for name, module in self.modules.items():
            if any(p.requires_grad for p in module.parameters()):
                self.modules[name] = DistributedDataParallel(
                    module,
                    device_ids=None,
                    find_unused_parameters=self.find_unused_parameters,
                )

    def make_dataloader(
        self, dataset, stage, ckpt_prefix="dataloader-", **loader_kwargs
    ):
        rank, world_size = world()
        if (
            not self.distributed_launch
            or world_size == 1
            or isinstance(dataset, torch.utils.data.DataLoader)
        ):
            return super().make_dataloader(
                dataset, stage, ckpt_prefix=ckpt_prefix, **loader_kwargs
            )
        loader_kwargs = dict(loader_kwargs)
        if stage == sb.Stage.TRAIN:
            if (
                loader_kwargs.get("sampler") is not None
                or loader_kwargs.get("batch_sampler") is not None
            ):
                return super().make_dataloader(
                    dataset, stage, ckpt_prefix=ckpt_prefix, **loader_kwargs
                )
            self.train_sampler = SplitBatchSampler(
                dataset,
                loader_kwargs.pop("batch_size", 1),
                rank,
                world_size,
                shuffle=loader_kwargs.pop("shuffle", False),
                drop_last=loader_kwargs.pop("drop_last", False),
            )
            loader_kwargs["batch_sampler"] = self.train_sampler
        else:
            loader_kwargs.pop("shuffle", None)
            loader_kwargs["sampler"] = BlockSampler(
                len(dataset), rank, world_size
            )
        dataloader = sb.dataio.dataloader.make_dataloader(
            dataset, **loader_kwargs
        )
        if (
            self.checkpointer is not None
            and ckpt_prefix is not None
            and stage == sb.Stage.TRAIN
        ):
            self.checkpointer.add_recoverable(
                ckpt_prefix + stage.name, dataloader
            )
        return dataloader

    # the stage loss as a mean over clips, over every process
    def on_stage_start(self, stage, epoch=None):
        self._loss_sum, self._loss_clips = 0.0, 0
        super().on_stage_start(stage, epoch)

    def evaluate_batch(self, batch, stage):
        loss = super().evaluate_batch(batch, stage)
        clips = int(getattr(batch, "batchsize", 1))
        self._loss_sum += float(loss) * clips
        self._loss_clips += clips
        return loss

    def stage_loss(self, stage, stage_loss):
        """The loss of a finished stage: valid / test, the mean over clips of every process; train, SpeechBrain's
        running mean, averaged over processes."""
        reduce = (
            sum_over_processes
            if self.distributed_launch
            else (lambda *values: values)
        )
        if stage == sb.Stage.TRAIN:
            total, count = reduce(float(stage_loss), 1.0)
            return total / count
        total, clips = reduce(self._loss_sum, float(self._loss_clips))
        return total / clips if clips else float("nan")

    def gather_lists(self, state):
        """:func:`gather_lists` when this Brain runs under torchrun (a Brain of one process only, e.g. the sanity
        check's retraining on the main process, gathers nothing)."""
        return gather_lists(state) if self.distributed_launch else state

    def gather_collector(self, collector):
        return (
            gather_collector(collector)
            if self.distributed_launch
            else collector
        )
