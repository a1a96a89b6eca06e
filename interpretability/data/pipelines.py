"""SpeechBrain ``DynamicItemDataset`` pipelines over the prepared JSON manifests.

Every dataset provides ``sig`` (``[samples]`` at 16 kHz, padded / cropped to the clip length) and either
``class_id`` (multi-class, the label index) or ``target_vector`` + ``annotated`` (multi-label, ``[C]`` each:
0/1 targets and 0 where no annotator labelled that class). Where the manifest
has ground truth (the synthetic set), ``clean_sig`` holds the target event alone, and for a multi-label set with
each class's events apart (``clean_by_class``), ``clean_class_sig`` ``[C, samples]`` holds them (zeros for the
classes absent from the clip).
"""

import json
import os

import torch

import speechbrain as sb
from interpretability.audio import SAMPLE_RATE, pad_or_crop, read_audio
from interpretability.errors import DataError


def load_classes(path):
    """The ordered class list written by preparation (``classes.json``)."""
    if not os.path.isfile(path):
        raise DataError(
            f"{path}: class list not found (run data preparation first)"
        )
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def has_key(json_path, key):
    """Whether every entry of the manifest ``json_path`` has ``key``."""
    with open(json_path, encoding="utf-8") as handle:
        data = json.load(handle)
    if not data:
        raise DataError(f"{json_path}: manifest holds no clips")
    return all(key in entry for entry in data.values())


def classification_datasets(
    manifests,
    clip_seconds,
    multilabel=False,
    sample_rate=SAMPLE_RATE,
    with_clean=True,
):
    """Build one ``DynamicItemDataset`` per split.

    Arguments
    ---------
    manifests : dict
        ``{split: json path}`` as returned by the ``prepare_*`` functions (extra keys are ignored).
    clip_seconds : float
        Every clip is zero-padded or cropped to this length.
    multilabel : bool
    with_clean : bool
        Provide ``clean_sig`` when every clip of a split has ``clean_wav``.

    Returns
    -------
    dict ``{split: DynamicItemDataset}``
    """
    num_samples = int(round(clip_seconds * sample_rate))

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("sig")
    def audio_pipeline(wav):
        return pad_or_crop(
            read_audio(wav, sample_rate, allow_silent=True), num_samples
        )

    @sb.utils.data_pipeline.takes("clean_wav")
    @sb.utils.data_pipeline.provides("clean_sig")
    def clean_pipeline(clean_wav):
        return pad_or_crop(
            read_audio(clean_wav, sample_rate, allow_silent=True), num_samples
        )

    classes = list(manifests.get("classes") or [])

    @sb.utils.data_pipeline.takes("clean_by_class")
    @sb.utils.data_pipeline.provides("clean_class_sig")
    def clean_by_class_pipeline(clean_by_class):
        sigs = torch.zeros(len(classes), num_samples)
        for name, path in clean_by_class.items():
            if name not in classes:
                raise DataError(
                    f"{path}: clean source of class '{name}', which is not in the class list {classes}"
                )
            sigs[classes.index(name)] = pad_or_crop(
                read_audio(path, sample_rate, allow_silent=True), num_samples
            )
        return sigs

    @sb.utils.data_pipeline.takes("label_id")
    @sb.utils.data_pipeline.provides("class_id")
    def label_pipeline(label_id):
        return torch.tensor([int(label_id)], dtype=torch.long)

    @sb.utils.data_pipeline.takes("targets", "target_mask")
    @sb.utils.data_pipeline.provides("target_vector", "annotated")
    def multilabel_pipeline(targets, target_mask):
        yield torch.tensor(targets, dtype=torch.float32)
        yield torch.tensor(target_mask, dtype=torch.float32)

    datasets = {}
    for split in ("train", "valid", "test"):
        if split not in manifests:
            continue
        path = manifests[split]
        dynamic_items = [audio_pipeline]
        output_keys = ["id", "sig"]
        if multilabel:
            dynamic_items.append(multilabel_pipeline)
            output_keys += ["target_vector", "annotated"]
        else:
            dynamic_items.append(label_pipeline)
            output_keys.append("class_id")
        if with_clean and has_key(path, "clean_wav"):
            dynamic_items.append(clean_pipeline)
            output_keys.append("clean_sig")
        if (
            with_clean
            and multilabel
            and classes
            and has_key(path, "clean_by_class")
        ):
            dynamic_items.append(clean_by_class_pipeline)
            output_keys.append("clean_class_sig")
        datasets[split] = sb.dataio.dataset.DynamicItemDataset.from_json(
            json_path=path, dynamic_items=dynamic_items, output_keys=output_keys
        )
    return datasets
