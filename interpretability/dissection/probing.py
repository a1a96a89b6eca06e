"""The probing clips of an AND run: ids, labels and waveforms loaded on demand."""

import torch

from interpretability.errors import InputError


class ProbingSet:
    """The probing clips: ``ids``, labels and 16 kHz waveforms ``[samples]`` of one common length.

    Arguments
    ---------
    ids : list[str]
    load : callable
        ``load(index) -> Tensor [samples]``.
    labels : list
        Class index per clip, or (``multilabel``) a 0/1 list over ``classes`` per clip.
    classes : list[str]
    multilabel : bool
    cache_bytes : int
        Waveforms are kept in memory up to this size (pruning reads every clip several times).
    """

    def __init__(
        self,
        ids,
        load,
        labels,
        classes,
        multilabel=False,
        cache_bytes=512 * 2**20,
    ):
        if len(ids) != len(labels):
            raise ValueError(f"{len(ids)} ids for {len(labels)} labels")
        if len(set(ids)) != len(ids):
            raise InputError("the probing set holds a clip id twice")
        self.ids, self.labels, self.classes = (
            list(ids),
            list(labels),
            list(classes),
        )
        self.multilabel = bool(multilabel)
        self._load = load
        self._cache, self._cached_bytes, self.cache_bytes = (
            {},
            0,
            int(cache_bytes),
        )

    def __len__(self):
        return len(self.ids)

    def wav(self, index):
        if index in self._cache:
            return self._cache[index]
        wav = self._load(index)
        if self._cached_bytes + wav.numel() * 4 <= self.cache_bytes:
            self._cache[index] = wav
            self._cached_bytes += wav.numel() * 4
        return wav

    @classmethod
    def from_tensors(cls, ids, wavs, labels, classes, multilabel=False):
        """From waveforms in memory (zero-padded to the longest)."""
        length = max(int(w.shape[-1]) for w in wavs)
        wavs = [
            torch.nn.functional.pad(
                w.float().reshape(-1), (0, length - w.shape[-1])
            )
            for w in wavs
        ]
        return cls(ids, lambda i: wavs[i], labels, classes, multilabel)

    @classmethod
    def from_datasets(
        cls,
        datasets,
        classes,
        multilabel=False,
        max_clips=None,
        seed=0,
        what="probing",
    ):
        """From SpeechBrain datasets of :func:`~interpretability.data.pipelines.classification_datasets`.

        ``max_clips`` keeps a seeded random subset (in dataset order) for small runs; ``what`` names the clips in
        messages.
        """
        entries, ids, labels = [], [], []
        label_key = "target_vector" if multilabel else "class_id"
        for dataset in datasets:
            with dataset.output_keys_as(["id", label_key]):
                for position in range(len(dataset)):
                    item = dataset[position]
                    value = item[label_key]
                    labels.append(
                        [int(round(float(v))) for v in value]
                        if multilabel
                        else int(value.reshape(-1)[0])
                    )
                    ids.append(item["id"])
                    entries.append((dataset, position))
        if not ids:
            raise InputError(f"the {what} splits hold no clips")
        if max_clips is not None and max_clips < len(ids):
            generator = torch.Generator().manual_seed(int(seed))
            keep = sorted(
                torch.randperm(len(ids), generator=generator)[
                    : int(max_clips)
                ].tolist()
            )
            entries, ids, labels = (
                [entries[i] for i in keep],
                [ids[i] for i in keep],
                [labels[i] for i in keep],
            )

        def load(index):
            dataset, position = entries[index]
            with dataset.output_keys_as(["sig"]):
                return dataset[position]["sig"].float()

        return cls(ids, load, labels, classes, multilabel)
