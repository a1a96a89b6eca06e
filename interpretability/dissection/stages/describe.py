"""Stage 2: one description per probing clip (sharded under torchrun, resumable per clip)."""

import os

from tqdm import tqdm

from interpretability.dissection.activations import shard_indices
from interpretability.dissection.stages.base import (
    PartialRecords,
    StageBase,
    _read_json,
)
from interpretability.errors import InputError
from interpretability.results import atomic_write_json


class DescriptionStage(StageBase):
    """Stage 2: ``descriptions.json``."""

    def descriptions(self):
        """Stage 2: one caption per probing clip (per rank under torchrun, resumable per clip)."""
        if self._done("descriptions.json"):
            return self._load_descriptions()
        n = len(self.probing)
        mine = shard_indices(n, self.rank, self.world_size)
        partial = PartialRecords(self._descriptions_partial(self.rank), ("id",))
        todo = [i for i in mine if (self.probing.ids[i],) not in partial]
        if todo:
            captioner = self.backends.captioner
            step = max(1, self.options.describe_batch_size)
            with tqdm(
                total=len(todo),
                desc="descriptions",
                disable=not self.options.progress,
            ) as bar:
                for start in range(0, len(todo), step):
                    chunk = todo[start : start + step]
                    texts = captioner.describe_batch(
                        [self.probing.wav(i) for i in chunk]
                    )
                    for i, text in zip(chunk, texts):
                        partial.append(
                            {"id": self.probing.ids[i], "description": text}
                        )
                    bar.update(len(chunk))
        partial.close()
        self.barrier()
        if self.rank == 0:
            records = dict(partial.records)
            for r in range(1, self.world_size):
                records.update(
                    PartialRecords(
                        self._descriptions_partial(r), ("id",)
                    ).records
                )
            missing = [i for i in self.probing.ids if (i,) not in records]
            if missing:
                raise RuntimeError(f"no description for clips {missing[:5]}")
            atomic_write_json(
                self.path("descriptions.json"),
                {
                    "ids": self.probing.ids,
                    "descriptions": [
                        records[(i,)]["description"] for i in self.probing.ids
                    ],
                },
            )
            for r in range(self.world_size):
                if os.path.exists(self._descriptions_partial(r)):
                    os.remove(self._descriptions_partial(r))
        self.barrier()
        return self._load_descriptions()

    def _descriptions_partial(self, rank):
        suffix = f".rank{rank}" if self.world_size > 1 else ""
        return self.path(f"descriptions{suffix}.partial.jsonl")

    def _load_descriptions(self):
        data = _read_json(self.path("descriptions.json"))
        if data["ids"] != self.probing.ids:
            raise InputError(
                f"{self.path('descriptions.json')}: describes other clips than the probing set"
            )
        return data["descriptions"]
