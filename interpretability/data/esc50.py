"""ESC-50 preparation: SpeechBrain JSON manifests from the dataset as downloaded.

Layout (``data_folder`` = the ``ESC-50-master`` folder)::

    <root>/audio/{fold}-{clip_id}-{take}-{target}.wav     5 s, 44.1 kHz, mono
    <root>/meta/esc50.csv                                 filename,fold,target,category,esc10,src_file,take

50 classes x 40 clips in 5 folds of 400. The project's synthetic set uses the same layout and adds
``<root>/audio_clean/<filename>`` and ``<root>/meta/events.csv`` (ground truth), which are attached to the
manifest entries as ``clean_wav`` and ``events``. With ``download=True`` a missing dataset is downloaded first
(:mod:`interpretability.data.download`).
"""

import logging
import os

from interpretability.data import manifest as mf
from interpretability.data.download import ensure_dataset
from interpretability.errors import DataError

logger = logging.getLogger(__name__)

ESC50_FOLDS = range(1, 6)
REQUIRED_COLUMNS = ("filename", "fold", "target", "category")
# The 50 categories by target (meta/esc50.csv), the order of every ESC-50 classifier's outputs here.
ESC50_CLASSES = (
    "dog",
    "rooster",
    "pig",
    "cow",
    "frog",
    "cat",
    "hen",
    "insects",
    "sheep",
    "crow",
    "rain",
    "sea_waves",
    "crackling_fire",
    "crickets",
    "chirping_birds",
    "water_drops",
    "wind",
    "pouring_water",
    "toilet_flush",
    "thunderstorm",
    "crying_baby",
    "sneezing",
    "clapping",
    "breathing",
    "coughing",
    "footsteps",
    "laughing",
    "brushing_teeth",
    "snoring",
    "drinking_sipping",
    "door_wood_knock",
    "mouse_click",
    "keyboard_typing",
    "door_wood_creaks",
    "can_opening",
    "washing_machine",
    "vacuum_cleaner",
    "clock_alarm",
    "clock_tick",
    "glass_breaking",
    "helicopter",
    "chainsaw",
    "siren",
    "car_horn",
    "engine",
    "train",
    "church_bells",
    "airplane",
    "fireworks",
    "hand_saw",
)


def prepare_esc50(
    data_folder,
    save_folder,
    train_folds=(1, 2, 3),
    valid_folds=(4,),
    test_folds=(5,),
    skip_prep=False,
    check_audio=True,
    download=False,
    checksum=None,
):
    """Write ``train.json``, ``valid.json``, ``test.json`` and ``classes.json`` into ``save_folder``.

    Manifest entries, keyed by the file stem::

        {"wav": absolute path, "label": category, "label_id": target, "fold": int,
         "duration": seconds, "sample_rate": Hz}   (+ "clean_wav", "events" on the synthetic set)

    ``duration`` and ``sample_rate`` come from the file header; they are null when ``check_audio`` is False
    (then only the existence of each file is checked). ``classes.json`` lists the category names by target.
    Clips of folds in none of the three splits are left out. The CSV may have a byte-order mark and CRLF line
    ends; a row repeating an earlier one cell for cell is dropped with a warning, two different rows of one clip
    are a DataError. Files in ``audio/`` that no row names (a ``README.txt``, ``.DS_Store``) are never read; a
    row naming a file that is missing or not audio is a DataError / AudioError naming the file and the line.

    Preparation is skipped when the outputs exist and ``prepare_opts.json`` records the same options;
    ``skip_prep`` skips it always (DataError if the manifests are missing).

    ``download``: when ``data_folder`` does not hold ESC-50, download it there first (``checksum`` as in
    :func:`~interpretability.data.download.ensure_dataset`); False: a missing dataset is a DataError.

    Returns
    -------
    dict ``{"train": path, "valid": path, "test": path, "classes": [names]}``
    """
    folds = {
        "train_folds": mf.fold_list(train_folds, "train_folds", ESC50_FOLDS),
        "valid_folds": mf.fold_list(valid_folds, "valid_folds", ESC50_FOLDS),
        "test_folds": mf.fold_list(test_folds, "test_folds", ESC50_FOLDS),
    }
    root = os.path.abspath(os.fspath(data_folder))
    if download and not skip_prep:
        ensure_dataset("ESC-50", root, checksum=checksum)
    csv_path = os.path.join(root, "meta", "esc50.csv")
    opts = {
        "dataset": "ESC-50",
        "prep_version": mf.PREP_VERSION,
        "data_folder": root,
        **folds,
        "check_audio": bool(check_audio),
        "metadata": mf.file_fingerprint(csv_path),
    }
    done = mf.existing_preparation(save_folder, opts, skip_prep)
    if done is not None:
        return done
    for name, split_folds in folds.items():
        if not split_folds:
            raise DataError(f"{name}: no fold given")
    mf.check_disjoint(folds)

    mf.require_folder(root)
    _, rows = mf.read_csv(csv_path, REQUIRED_COLUMNS)
    rows = mf.drop_duplicate_rows(csv_path, rows)
    audio_folder = os.path.join(root, "audio")
    mf.require_folder(audio_folder, "audio folder")
    ground_truth = mf.load_ground_truth(root)

    split_of_fold = {
        fold: split for split in mf.SPLITS for fold in folds[f"{split}_folds"]
    }
    class_rows, seen, parsed = [], {}, []
    for line, row in rows:
        filename = mf.cell(csv_path, line, row, "filename")
        fold = mf.int_cell(csv_path, line, row, "fold")
        if fold not in ESC50_FOLDS:
            raise DataError(
                f"{csv_path}, line {line}: unknown fold '{fold}' (ESC-50 folds are 1..5)"
            )
        target = mf.int_cell(csv_path, line, row, "target")
        category = mf.cell(csv_path, line, row, "category")
        class_rows.append((line, target, category))
        clip_id = mf.stem_id(csv_path, line, filename, seen)
        parsed.append((line, clip_id, filename, fold, target, category))
    classes = mf.check_class_ids(csv_path, class_rows, "category")

    manifests = {split: {} for split in mf.SPLITS}
    for line, clip_id, filename, fold, target, category in mf.progress(
        parsed, "ESC-50 clips"
    ):
        split = split_of_fold.get(fold)
        if split is None:
            continue
        wav = os.path.join(audio_folder, filename)
        entry = {
            "wav": wav,
            "label": category,
            "label_id": target,
            "fold": fold,
        }
        entry.update(mf.audio_entry(wav, csv_path, line, check_audio))
        mf.attach_ground_truth(entry, ground_truth, filename, csv_path, line)
        manifests[split][clip_id] = entry
    for split in mf.SPLITS:
        if not manifests[split]:
            raise DataError(
                f"{csv_path}: no clip in the {split} folds {folds[f'{split}_folds']}"
            )
    return mf.write_preparation(save_folder, manifests, classes, opts)
