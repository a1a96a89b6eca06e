"""Stages 1 and 3: the probing record, activations of every layer (sharded under torchrun) and top-K clips."""

import os

import torch

from interpretability.dissection.activations import (
    capture_activations,
    load_activations,
    merge_activation_shards,
    save_activations,
    shard_indices,
    shard_path,
)
from interpretability.dissection.concepts import top_k_indices
from interpretability.dissection.stages.base import (
    StageBase,
    _plain,
    _read_json,
)
from interpretability.errors import InputError
from interpretability.results import atomic_write_json


class CaptureStages(StageBase):
    """Stages 1 and 3: ``probing.json``, ``activations.pt``, ``top_k.json``."""

    def check_probing(self):
        """Write ``probing.json``, or check that this folder's earlier stages used the same clips and layers."""
        record = {
            "ids": self.probing.ids,
            "labels": self.probing.labels,
            "classes": self.probing.classes,
            "multilabel": self.probing.multilabel,
            "layers": self.options.layers,
            "pooling": self.options.pooling,
            "k": self.options.k,
        }
        path = self.path("probing.json")
        if self.rank == 0:
            if os.path.isfile(path):
                previous = _read_json(path)
                changed = [
                    key
                    for key in record
                    if previous.get(key) != _plain(record[key])
                ]
                if changed:
                    raise InputError(
                        f"{path}: this output folder holds a dissection with other {', '.join(changed)}; "
                        "use another output folder (or delete its stage files)"
                    )
            else:
                atomic_write_json(path, _plain(record))
        self.barrier()

    def activations(self):
        """Stage 1: pooled activations of every layer over the probing set (sharded per rank under torchrun)."""
        if self._done("activations.pt"):
            return load_activations(self.path("activations.pt"))
        n = len(self.probing)
        if self.world_size == 1:
            activations = self._capture(range(n))
            save_activations(self.path("activations.pt"), activations)
            return activations
        shards = [
            shard_path(self.folder, r)
            for r in range(self.world_size)
            if len(shard_indices(n, r, self.world_size))
        ]
        mine = shard_indices(n, self.rank, self.world_size)
        if len(mine) and not os.path.isfile(shard_path(self.folder, self.rank)):
            save_activations(
                shard_path(self.folder, self.rank), self._capture(mine)
            )
        self.barrier()
        if self.rank == 0:
            merged = merge_activation_shards(shards)
            if merged.ids != self.probing.ids:
                raise InputError(
                    f"{self.folder}: activation shards do not cover the probing clips in order"
                )
            save_activations(self.path("activations.pt"), merged)
            for shard in shards:
                os.remove(shard)
        self.barrier()
        return load_activations(self.path("activations.pt"))

    def _capture(self, indices):
        if self.device is not None:
            self.model.to(self.device)
        return capture_activations(
            self.model,
            self.options.layers,
            self._batches(indices),
            pooling=self.options.pooling,
            neuron_axes=self.options.neuron_axes,
            device=self.device,
            progress=self.options.progress,
        )

    def top_k(self, activations):
        """Stage 3: the K highest and lowest activated clips of every neuron (row indices, most extreme first)."""
        if not self._done("top_k.json"):
            n, k = len(activations.ids), self.options.k
            if n < k:
                raise InputError(
                    f"the probing set holds {n} clips; top-{k} needs at least {k}"
                )
            atomic_write_json(
                self.path("top_k.json"),
                {
                    "k": k,
                    "layers": {
                        layer: {
                            "top": top_k_indices(a, k, largest=True).tolist(),
                            "bottom": top_k_indices(
                                a, k, largest=False
                            ).tolist(),
                        }
                        for layer, a in activations.items()
                    },
                },
            )
        data = _read_json(self.path("top_k.json"))
        return {
            layer: {
                side: torch.tensor(v, dtype=torch.long)
                for side, v in sides.items()
            }
            for layer, sides in data["layers"].items()
        }
