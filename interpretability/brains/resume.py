"""What a training run needs to continue after a kill exactly as if it had not stopped.

SpeechBrain's ``Checkpointer`` saves the modules, the optimiser, the epoch counter and the schedulers at the end of
every epoch, and ``Brain.fit`` recovers the latest checkpoint, so a killed run restarts the epoch it was in. Two
things are missing for the restarted run to end with the same metrics as an uninterrupted one:

- the random state: data augmentation, contaminant mixing and dropout draw from the global generators (and a
  contaminant bank from its own), which a restarted process re-seeds from the hparams' ``seed``, not from where the
  killed run had got to. :class:`RandomState` is a recoverable that saves torch's, NumPy's and Python's generators
  (and named ``torch.Generator`` s) of every process at each checkpoint and puts them back on recovery. The train
  loader's shuffling needs nothing: SpeechBrain derives it from (seed, epoch).
- atomic checkpoints: SpeechBrain writes a checkpoint's ``CKPT.yaml`` first and its parameter files after it, so a
  kill while saving leaves a checkpoint that looks complete and fails to load. :func:`atomic_checkpoints` makes the
  ``CKPT.yaml`` appear last (written beside, renamed once every file is there) and removes, on start, the folders a
  kill left without one.
"""

import logging
import os
import pathlib
import random
import shutil

import numpy as np
import torch

from speechbrain.utils.checkpoints import (
    METAFNAME,
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)
from speechbrain.utils.distributed import ddp_barrier, if_main_process

logger = logging.getLogger(__name__)

PENDING_SUFFIX = ".pending"
RANDOM_STATE_KEY = "random_state"


def _distributed():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _numpy_state():
    name, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "name": name,
        "keys": keys.tolist(),
        "pos": int(position),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached),
    }


def _set_numpy_state(state):
    np.random.set_state(
        (
            state["name"],
            np.asarray(state["keys"], dtype=np.uint32),
            state["pos"],
            state["has_gauss"],
            state["cached_gaussian"],
        )
    )


def _python_state():
    version, internal, gauss = random.getstate()
    return {"version": version, "internal": list(internal), "gauss": gauss}


def _set_python_state(state):
    random.setstate(
        (state["version"], tuple(state["internal"]), state["gauss"])
    )


class RandomState:
    """Recoverable random state of a run: global torch / CUDA / NumPy / Python generators and ``generators``
    (``{name: torch.Generator}``, e.g. a contaminant bank's), one entry per process under torchrun.

    Saving is collective (every rank calls the checkpointer's save): each rank's state is gathered and the main
    process writes them all; on recovery each rank takes its own (rank modulo the saved world size).
    """

    def __init__(self, generators=None):
        self.generators = dict(generators or {})

    def add_generator(self, name, generator):
        self.generators[name] = generator

    def capture(self):
        """This process's state, as plain tensors / lists (readable with ``weights_only=True``)."""
        state = {
            "torch": torch.get_rng_state(),
            "numpy": _numpy_state(),
            "python": _python_state(),
            "generators": {
                name: g.get_state() for name, g in self.generators.items()
            },
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def restore(self, state):
        torch.set_rng_state(state["torch"])
        _set_numpy_state(state["numpy"])
        _set_python_state(state["python"])
        for name, generator in self.generators.items():
            if name in state.get("generators", {}):
                generator.set_state(state["generators"][name])
            else:
                logger.warning(
                    "the checkpoint holds no state for the random generator %r: it restarts",
                    name,
                )
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])

    @mark_as_saver
    def _save(self, path):
        states = [self.capture()]
        rank, world_size = _distributed()
        if world_size > 1:
            gathered = [None] * world_size
            torch.distributed.all_gather_object(gathered, states[0])
            states = gathered
        if rank == 0:
            torch.save({"ranks": states}, path)

    @mark_as_loader
    def _recover(self, path, end_of_epoch=True):
        del end_of_epoch  # the state is that of the moment the checkpoint was saved, whatever its kind
        states = torch.load(path, map_location="cpu", weights_only=True)[
            "ranks"
        ]
        rank, world_size = _distributed()
        if len(states) != world_size:
            logger.warning(
                "%s: random state saved by %d processes, resumed with %d: the random draws differ from "
                "an uninterrupted run",
                path,
                len(states),
                world_size,
            )
        self.restore(states[rank % len(states)])


register_checkpoint_hooks(RandomState, save_on_main_only=False)


def atomic_checkpoints(checkpointer):
    """Make ``checkpointer`` (a SpeechBrain ``Checkpointer``) write each checkpoint's ``CKPT.yaml`` last, so a kill
    while saving never leaves a checkpoint that would be recovered, and delete (main process) the checkpoint
    folders an earlier kill left incomplete. Idempotent; returns ``checkpointer``."""
    if checkpointer is None or getattr(
        checkpointer, "_atomic_checkpoints", False
    ):
        return checkpointer
    write_meta = checkpointer._save_checkpoint_metafile
    save = checkpointer.save_checkpoint

    def write_pending_meta(fpath, meta_to_include={}, end_of_epoch=True):  # noqa: B006 - SpeechBrain's signature
        return write_meta(
            pathlib.Path(str(fpath) + PENDING_SUFFIX),
            meta_to_include,
            end_of_epoch,
        )

    def save_checkpoint(*args, **kwargs):
        checkpoint = save(*args, **kwargs)
        if checkpoint is not None:
            pending = pathlib.Path(checkpoint.path) / (
                METAFNAME + PENDING_SUFFIX
            )
            os.replace(pending, pathlib.Path(checkpoint.path) / METAFNAME)
        # every process lists the checkpoints next (save_and_keep_only): all must see this one, or they would
        # disagree on which to delete and the deletions' broadcasts would pair up wrongly (a hang under torchrun)
        ddp_barrier()
        return checkpoint

    checkpointer._save_checkpoint_metafile = write_pending_meta
    checkpointer.save_checkpoint = save_checkpoint
    checkpointer._atomic_checkpoints = True
    remove_incomplete_checkpoints(checkpointer.checkpoints_dir)
    return checkpointer


def remove_incomplete_checkpoints(folder):
    """Delete (main process) the ``CKPT+*`` folders of ``folder`` that hold no ``CKPT.yaml``: a kill while saving.
    Returns their names."""
    removed = []
    if not if_main_process() or not os.path.isdir(folder):
        return removed
    for entry in sorted(os.listdir(folder)):
        path = os.path.join(folder, entry)
        if (
            entry.startswith("CKPT")
            and os.path.isdir(path)
            and not os.path.isfile(os.path.join(path, METAFNAME))
        ):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(entry)
    if removed:
        logger.warning(
            "removed %d checkpoint folder(s) a kill left half-written in %s: %s",
            len(removed),
            folder,
            removed,
        )
    return removed


def make_resumable(checkpointer, generators=None):
    """Atomic checkpoints and a :class:`RandomState` recoverable (with ``generators``) on ``checkpointer``; returns
    the RandomState (None without a checkpointer). The recoverable is optional on load, so checkpoints written
    before it existed still load (their random state is then not restored)."""
    if checkpointer is None:
        return None
    atomic_checkpoints(checkpointer)
    state = checkpointer.recoverables.get(RANDOM_STATE_KEY)
    if state is None:
        state = RandomState()
        checkpointer.add_recoverable(
            RANDOM_STATE_KEY, state, optional_load=True
        )
    for name, generator in (generators or {}).items():
        state.add_generator(name, generator)
    return state


class ResumableMixin:
    """For a SpeechBrain ``Brain``: atomic checkpoints and the run's random state saved with each checkpoint
    (``self.random_state``, None without a checkpointer; a Brain adds its own generators with
    ``self.random_state.add_generator``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.random_state = make_resumable(self.checkpointer)
