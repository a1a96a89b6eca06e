"""SONYC-UST preparation (v2.3; the v1 layout is accepted too): multi-label SpeechBrain JSON manifests.

Layout (``data_folder`` = the extracted dataset)::

    <root>/annotations.csv            one row per (clip, annotator)
    <root>/dcase-ust-taxonomy.yaml
    <root>/audio-0 .. audio-18/*.wav  (v2.3 shards; any ``audio*`` folder is scanned)
    <root>/train/, <root>/validate/   (v1)

Columns are selected by name: ``split``, ``audio_filename``, ``annotator_id`` and the coarse presence columns
``<c>_<name>_presence`` (the targets, in column order; fine ``<c>-<f>_<name>_presence`` columns are ignored).
Presence is 1 / 0 / -1, where -1 means "not annotated": such classes are masked, never counted.
``annotator_id`` > 0 is a volunteer, < 0 a team member, 0 the verified ground truth. Targets follow the
official 2020 baseline: train = present when any volunteer marked it; validate / test = the annotator 0 row.
The synthetic set in this layout adds ``<root>/audio_clean/`` and ``<root>/meta/events.csv``.
"""

import logging
import os
import re

from interpretability.data import manifest as mf
from interpretability.data.download import ensure_dataset
from interpretability.errors import DataError

logger = logging.getLogger(__name__)

COARSE_PRESENCE = re.compile(r"^(\d+)_([^_]+)_presence$")
FINE_PRESENCE = re.compile(r"^(\d+)-(\w+)_([^_]+)_presence$")
REQUIRED_COLUMNS = ("split", "audio_filename", "annotator_id")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


def coarse_columns(csv_path, fieldnames):
    """``[(column, class name)]`` of the coarse presence columns, in column order."""
    columns = []
    for name in fieldnames:
        match = COARSE_PRESENCE.match(name)
        if match:
            columns.append((name, match.group(2)))
    if not columns:
        raise DataError(
            f"{csv_path}: no coarse presence column ('<c>_<name>_presence', e.g. '1_engine_presence')"
        )
    names = [class_name for _, class_name in columns]
    duplicates = sorted(
        {class_name for class_name in names if names.count(class_name) > 1}
    )
    if duplicates:
        raise DataError(
            f"{csv_path}: coarse class '{duplicates[0]}' has two presence columns"
        )
    return columns


def find_audio(root):
    """Scan the audio folders once: ``({audio file name: absolute path}, version, folders scanned,
    {other file name: absolute path})``.

    v2.3 keeps audio in ``audio*`` shards, v1 in ``train/`` and ``validate/`` (and ``test/``) subfolders.
    """
    candidates = sorted(
        name
        for name in os.listdir(root)
        if os.path.isdir(os.path.join(root, name))
        and (
            name.startswith("audio")
            and name != "audio_clean"
            or name in ("train", "validate", "test")
        )
    )
    version = (
        "2.3" if any(name.startswith("audio") for name in candidates) else "1"
    )
    located, others = {}, {}
    for folder in candidates:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, folder)):
            dirnames.sort()
            for filename in sorted(filenames):
                found = (
                    located
                    if filename.lower().endswith(AUDIO_SUFFIXES)
                    else others
                )
                found.setdefault(
                    filename, os.path.abspath(os.path.join(dirpath, filename))
                )
    # a file of another type is only ever named in an error: annotations.csv naming it is a mistake
    return located, version, candidates, others


def _presence(csv_path, line, row, column):
    value = mf.cell(csv_path, line, row, column)
    try:
        number = float(value)
    except ValueError:
        number = None
    if number not in (-1.0, 0.0, 1.0):
        raise DataError(
            f"{csv_path}, line {line}: presence value in column '{column}' must be 1, 0 or -1, got '{value}'"
        )
    return int(number)


def _targets(rows):
    """Targets and mask from presence rows ``[[p_1..p_C], ...]``: present if any row says 1; masked where all -1."""
    num_classes = len(rows[0])
    targets = [
        1.0 if any(row[k] == 1 for row in rows) else 0.0
        for k in range(num_classes)
    ]
    mask = [
        0 if all(row[k] == -1 for row in rows) else 1
        for k in range(num_classes)
    ]
    return targets, mask


def prepare_sonyc_ust(
    data_folder,
    save_folder,
    train_split="train",
    valid_split="validate",
    test_split="test",
    skip_prep=False,
    check_audio=True,
    download=False,
    checksum=None,
):
    """Write ``train.json``, ``valid.json``, ``test.json`` and ``classes.json`` into ``save_folder``.

    Manifest entries, keyed by the file stem::

        {"wav": absolute path, "labels": [present coarse names], "targets": [C x 0./1.],
         "target_mask": [C x 0/1], "split": split name, "duration": seconds, "sample_rate": Hz}
        (+ "clean_wav", "events" on the synthetic set)

    Train targets: a class is present when any volunteer (annotator_id > 0) marked it 1, and masked (0 in
    ``target_mask``, target 0) when every volunteer row holds -1 for it; a train clip without volunteer rows
    uses its annotator 0 row, or is fully masked (with a warning) if it has none. Validate / test targets: the
    ``annotator_id == 0`` row (DataError when a clip lacks it). When the test split has no rows at all (the v1
    layout has no test split), a warning is logged and the validate clips are used as the test set too.
    A split whose presence values are all -1 is a DataError (nothing to train on or score); a clip without any
    positive label is kept (a negative of every class), and classes without a positive clip in a split are named in
    a warning. Rows repeating an earlier row cell for cell are dropped with a warning; a row naming a file of the
    audio folders that is not audio is a DataError. ``classes.json`` holds the coarse class names in column order.
    ``duration`` / ``sample_rate`` come from the header (null when ``check_audio`` is False). Skipping and ``download`` (v2.3 from Zenodo) as in
    :func:`interpretability.data.esc50.prepare_esc50`.

    Returns
    -------
    dict ``{"train": path, "valid": path, "test": path, "classes": [names]}``
    """
    split_names = {
        "train": str(train_split),
        "valid": str(valid_split),
        "test": str(test_split),
    }
    root = os.path.abspath(os.fspath(data_folder))
    if download and not skip_prep:
        ensure_dataset("SONYC-UST", root, checksum=checksum)
    csv_path = os.path.join(root, "annotations.csv")
    opts = {
        "dataset": "SONYC-UST",
        "prep_version": mf.PREP_VERSION,
        "data_folder": root,
        "splits": split_names,
        "check_audio": bool(check_audio),
        "metadata": mf.file_fingerprint(csv_path),
    }
    done = mf.existing_preparation(save_folder, opts, skip_prep)
    if done is not None:
        return done
    if len(set(split_names.values())) != 3:
        raise DataError(
            f"train_split / valid_split / test_split must differ, got {split_names}"
        )

    mf.require_folder(root)
    fieldnames, rows = mf.read_csv(csv_path, REQUIRED_COLUMNS)
    rows = mf.drop_duplicate_rows(csv_path, rows)
    columns = coarse_columns(csv_path, fieldnames)
    classes = [class_name for _, class_name in columns]
    ground_truth = mf.load_ground_truth(root)

    split_of_name = {name: split for split, name in split_names.items()}
    clips = {}  # audio_filename -> {"split", "line", "volunteers": [...], "verified": [(line, presence)]}
    for line, row in rows:
        split_name = mf.cell(csv_path, line, row, "split")
        filename = mf.cell(csv_path, line, row, "audio_filename")
        annotator = mf.int_cell(csv_path, line, row, "annotator_id")
        presence = [
            _presence(csv_path, line, row, column) for column, _ in columns
        ]
        clip = clips.setdefault(
            filename,
            {
                "split": split_name,
                "line": line,
                "volunteers": [],
                "verified": [],
            },
        )
        if clip["split"] != split_name:
            raise DataError(
                f"{csv_path}, line {line}: clip '{filename}' is in split '{split_name}' here but in "
                f"'{clip['split']}' on line {clip['line']}"
            )
        if annotator > 0:
            clip["volunteers"].append(presence)
        elif annotator == 0:
            clip["verified"].append((line, presence))

    split_has_rows = {
        split: any(c["split"] == name for c in clips.values())
        for split, name in split_names.items()
    }
    use_valid_as_test = not split_has_rows["test"]
    if use_valid_as_test:
        logger.warning(
            "%s: no row in split '%s' (the v1 layout has none); the '%s' clips are used as the test set too",
            csv_path,
            split_names["test"],
            split_names["valid"],
        )
    for split in ("train", "valid"):
        if not split_has_rows[split]:
            raise DataError(
                f"{csv_path}: no row in split '{split_names[split]}' (column 'split')"
            )

    located, version, audio_folders, not_audio = find_audio(root)
    logger.info(
        "SONYC-UST layout v%s, %d audio files in %s",
        version,
        len(located),
        ", ".join(audio_folders),
    )
    manifests = {split: {} for split in mf.SPLITS}
    seen, unlabelled = {}, 0
    for filename, clip in mf.progress(list(clips.items()), "SONYC-UST clips"):
        split = split_of_name.get(clip["split"])
        if split is None:
            continue
        line = clip["line"]
        if split == "train" and clip["volunteers"]:
            targets, mask = _targets(clip["volunteers"])
        elif clip["verified"]:
            if len(clip["verified"]) > 1:
                raise DataError(
                    f"{csv_path}, line {clip['verified'][1][0]}: second annotator_id 0 row for clip '{filename}' "
                    f"(first on line {clip['verified'][0][0]})"
                )
            targets, mask = _targets([clip["verified"][0][1]])
        elif split == "train":
            unlabelled += 1
            targets, mask = [0.0] * len(classes), [0] * len(classes)
        else:
            raise DataError(
                f"{csv_path}, line {line}: {clip['split']} clip '{filename}' has no annotator_id 0 "
                f"(verified ground truth) row"
            )
        clip_id = mf.stem_id(csv_path, line, filename, seen)
        wav = located.get(os.path.basename(filename))
        if wav is None and os.path.basename(filename) in not_audio:
            raise DataError(
                f"{csv_path}, line {line}: {not_audio[os.path.basename(filename)]} is not an audio file "
                f"(expected one of {', '.join(AUDIO_SUFFIXES)})"
            )
        if wav is None:
            raise DataError(
                f"{csv_path}, line {line}: audio file not found: {filename} "
                f"(searched {', '.join(os.path.join(root, f) for f in audio_folders) or root + '/audio*'})"
            )
        entry = {
            "wav": wav,
            "labels": [
                name for name, target in zip(classes, targets) if target == 1.0
            ],
            "targets": targets,
            "target_mask": mask,
            "split": clip["split"],
        }
        entry.update(mf.audio_entry(wav, csv_path, line, check_audio))
        mf.attach_ground_truth(entry, ground_truth, filename, csv_path, line)
        manifests[split][clip_id] = entry
    if unlabelled:
        logger.warning(
            "%s: %d train clips have no volunteer or annotator 0 row; all classes masked",
            csv_path,
            unlabelled,
        )
    if use_valid_as_test:
        manifests["test"] = dict(manifests["valid"])
    for split in ("train", "valid") if use_valid_as_test else mf.SPLITS:
        _check_labels(
            csv_path,
            split_names[split],
            manifests[split],
            classes,
            training=split == "train",
        )
    return mf.write_preparation(save_folder, manifests, classes, opts)


def _check_labels(csv_path, split_name, manifest, classes, training):
    """DataError when no (clip, class) of a split is annotated (every presence -1: nothing to learn or score);
    a warning for the classes without a positive clip there (nothing to learn; AUPRC 0 by the DCASE convention)
    and for the clips without any positive label (kept: "none of these sounds" is a valid label)."""
    if not manifest:
        return
    if not any(any(entry["target_mask"]) for entry in manifest.values()):
        raise DataError(
            f"{csv_path}: every presence value of the '{split_name}' clips is -1 (not annotated): "
            f"there is nothing to train on or score there"
        )
    absent = [
        name
        for k, name in enumerate(classes)
        if not any(entry["targets"][k] == 1.0 for entry in manifest.values())
    ]
    if absent:
        consequence = (
            "the classifier cannot learn them"
            if training
            else "their AUPRC there is 0 (DCASE convention)"
        )
        logger.warning(
            "%s: no '%s' clip is labelled %s: %s",
            csv_path,
            split_name,
            ", ".join(absent),
            consequence,
        )
    empty = sum(1 for entry in manifest.values() if not entry["labels"])
    if empty:
        logger.info(
            "%s: %d of %d '%s' clips have no positive label (kept as negatives of every class)",
            csv_path,
            empty,
            len(manifest),
            split_name,
        )
