"""UrbanSound8K preparation: SpeechBrain JSON manifests from the dataset as downloaded.

Layout (``data_folder`` = the ``UrbanSound8K`` folder)::

    <root>/audio/fold1 .. fold10/{fsID}-{classID}-{occurrenceID}-{sliceID}.wav
    <root>/metadata/UrbanSound8K.csv      slice_file_name,fsID,start,end,salience,fold,classID,class

8732 clips of up to 4 s whose rate, bit depth and channel count vary (read from the header), 10 classes,
10 predefined folds that are never reshuffled. The synthetic set in this layout adds ``<root>/audio_clean/``
and ``<root>/meta/events.csv`` (filenames ``fold1/x.wav``, relative to ``audio/``).
"""

import logging
import os

from interpretability.data import manifest as mf
from interpretability.data.download import ensure_dataset
from interpretability.errors import DataError

logger = logging.getLogger(__name__)

US8K_FOLDS = range(1, 11)
REQUIRED_COLUMNS = ("slice_file_name", "fold", "classID", "class")


def _single_fold(fold, name):
    folds = mf.fold_list(fold, name, US8K_FOLDS)
    if len(folds) != 1:
        raise DataError(f"{name}: one fold expected, got {fold}")
    return folds[0]


def prepare_us8k(
    data_folder,
    save_folder,
    test_fold=10,
    valid_fold=None,
    skip_prep=False,
    check_audio=True,
    download=False,
    checksum=None,
):
    """Write ``train.json``, ``valid.json``, ``test.json`` and ``classes.json`` into ``save_folder``.

    ``test_fold`` is the held-out fold; ``valid_fold`` defaults to the fold before it (wrapping 1 -> 10);
    the other 8 folds are the training set. Manifest entries, keyed by the file stem::

        {"wav": absolute path, "label": class, "label_id": classID, "fold": int,
         "duration": seconds, "sample_rate": Hz}   (+ "clean_wav", "events" on the synthetic set)

    ``duration`` and ``sample_rate`` come from the file header (null when ``check_audio`` is False, when only
    the existence of each file is checked). ``classes.json`` lists the class names by classID.
    Skipping, ``download`` and the handling of odd metadata as in :func:`interpretability.data.esc50.prepare_esc50`.

    Returns
    -------
    dict ``{"train": path, "valid": path, "test": path, "classes": [names]}``
    """
    test_fold = _single_fold(test_fold, "test_fold")
    if valid_fold is None:
        valid_fold = test_fold - 1 if test_fold > 1 else 10
    valid_fold = _single_fold(valid_fold, "valid_fold")
    if valid_fold == test_fold:
        raise DataError(
            f"valid_fold: fold {valid_fold} is also the test_fold (splits must not share folds)"
        )
    folds = {
        "train": [
            fold for fold in US8K_FOLDS if fold not in (valid_fold, test_fold)
        ],
        "valid": [valid_fold],
        "test": [test_fold],
    }
    root = os.path.abspath(os.fspath(data_folder))
    if download and not skip_prep:
        ensure_dataset("UrbanSound8K", root, checksum=checksum)
    csv_path = os.path.join(root, "metadata", "UrbanSound8K.csv")
    opts = {
        "dataset": "UrbanSound8K",
        "prep_version": mf.PREP_VERSION,
        "data_folder": root,
        "test_fold": test_fold,
        "valid_fold": valid_fold,
        "check_audio": bool(check_audio),
        "metadata": mf.file_fingerprint(csv_path),
    }
    done = mf.existing_preparation(save_folder, opts, skip_prep)
    if done is not None:
        return done

    mf.require_folder(root)
    _, rows = mf.read_csv(csv_path, REQUIRED_COLUMNS)
    rows = mf.drop_duplicate_rows(csv_path, rows)
    audio_folder = os.path.join(root, "audio")
    mf.require_folder(audio_folder, "audio folder")
    ground_truth = mf.load_ground_truth(root)

    split_of_fold = {
        fold: split
        for split, split_folds in folds.items()
        for fold in split_folds
    }
    class_rows, seen, parsed = [], {}, []
    for line, row in rows:
        filename = mf.cell(csv_path, line, row, "slice_file_name")
        fold = mf.int_cell(csv_path, line, row, "fold")
        if fold not in US8K_FOLDS:
            raise DataError(
                f"{csv_path}, line {line}: unknown fold '{fold}' (UrbanSound8K folds are 1..10)"
            )
        class_id = mf.int_cell(csv_path, line, row, "classID")
        name = mf.cell(csv_path, line, row, "class")
        class_rows.append((line, class_id, name))
        clip_id = mf.stem_id(csv_path, line, filename, seen)
        parsed.append((line, clip_id, filename, fold, class_id, name))
    classes = mf.check_class_ids(csv_path, class_rows, "class")

    manifests = {split: {} for split in mf.SPLITS}
    for line, clip_id, filename, fold, class_id, name in mf.progress(
        parsed, "UrbanSound8K clips"
    ):
        relative = f"fold{fold}/{filename}"
        wav = os.path.join(audio_folder, f"fold{fold}", filename)
        entry = {"wav": wav, "label": name, "label_id": class_id, "fold": fold}
        entry.update(mf.audio_entry(wav, csv_path, line, check_audio))
        mf.attach_ground_truth(entry, ground_truth, relative, csv_path, line)
        manifests[split_of_fold[fold]][clip_id] = entry
    for split in mf.SPLITS:
        if not manifests[split]:
            raise DataError(
                f"{csv_path}: no clip in the {split} folds {folds[split]}"
            )
    return mf.write_preparation(save_folder, manifests, classes, opts)
