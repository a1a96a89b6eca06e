"""Shared pieces of dataset preparation: CSV reading with line numbers, value parsing, audio checks,
ground-truth (``meta/events.csv``) loading, atomic JSON writing and the skip logic.

Every problem raises :class:`~interpretability.errors.DataError` naming the file, the line (1-based, the
header is line 1) where one applies, and the problem.
"""

import csv
import json
import logging
import os

from tqdm import tqdm

from interpretability.audio import audio_info
from interpretability.errors import AudioError, DataError
from interpretability.results import atomic_write_json

logger = logging.getLogger(__name__)

# Bump when the manifest format changes, so that old manifests are re-prepared.
PREP_VERSION = 2
OPTS_FILE = "prepare_opts.json"
SPLITS = ("train", "valid", "test")
EVENT_COLUMNS = (
    "filename",
    "category",
    "onset_s",
    "offset_s",
    "f_low_hz",
    "f_high_hz",
)


# ----------------------------------------------------------------------------------------------- CSV


def require_folder(path, what="data folder"):
    """Raise DataError unless ``path`` is an existing directory."""
    if not os.path.isdir(path):
        raise DataError(f"{path}: {what} not found")


def require_file(path, what="metadata file"):
    """Raise DataError unless ``path`` is an existing file."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: {what} not found")


def read_csv(path, required_columns=()):
    """Read a CSV file with a header.

    Returns
    -------
    (fieldnames, rows) where ``rows`` is a list of ``(line_number, {column: value})``; the line number is
    the one an editor shows (header = line 1). A UTF-8 byte-order mark, CRLF line ends and blank lines are
    accepted. Raises DataError when the file is missing, unreadable, empty, lacks one of ``required_columns``,
    names a column twice, or has a row with more cells than the header.
    """
    require_file(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            fieldnames = [name.strip() for name in (reader.fieldnames or [])]
            reader.fieldnames = fieldnames
            rows = []
            for row in reader:
                if (
                    None in row
                ):  # DictReader files cells past the header's under None
                    raise DataError(
                        f"{path}, line {reader.line_num}: {len(fieldnames) + len(row[None])} cells but "
                        f"the header has {len(fieldnames)} columns (an unquoted comma in a value?)"
                    )
                rows.append((reader.line_num, row))
    except (UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{path}: not a readable CSV file ({err})") from None
    if not fieldnames:
        raise DataError(f"{path}: CSV file is empty (no header line)")
    repeated = sorted(
        {name for name in fieldnames if name and fieldnames.count(name) > 1}
    )
    if repeated:
        raise DataError(
            f"{path}: column '{repeated[0]}' appears twice in the header"
        )
    for column in required_columns:
        if column not in fieldnames:
            raise DataError(
                f"{path}: required column '{column}' missing (header has: {', '.join(fieldnames)})"
            )
    return fieldnames, rows


def drop_duplicate_rows(path, rows):
    """``rows`` without the rows that repeat an earlier row cell for cell (stripped), with one warning.

    A repeated row (a file concatenated twice, a merge that kept both sides) says nothing the first one did not,
    so it is dropped rather than refused; two rows of the same clip that differ are left for the caller to
    refuse, since only the user knows which one is right.
    """
    first_line, kept, repeats = {}, [], []
    for line, row in rows:
        key = tuple(
            (column, (value or "").strip()) for column, value in row.items()
        )
        if key in first_line:
            repeats.append((line, first_line[key]))
            continue
        first_line[key] = line
        kept.append((line, row))
    if repeats:
        shown = ", ".join(
            f"line {line} repeats line {first}" for line, first in repeats[:3]
        )
        more = f" and {len(repeats) - 3} more" if len(repeats) > 3 else ""
        logger.warning(
            "%s: %d duplicate row(s) ignored (%s%s)",
            path,
            len(repeats),
            shown,
            more,
        )
    return kept


def cell(path, line, row, column):
    """The stripped, non-empty value of ``column``; DataError naming file, line and column otherwise."""
    value = row.get(column)
    value = "" if value is None else value.strip()
    if not value:
        raise DataError(f"{path}, line {line}: empty cell in column '{column}'")
    return value


def int_cell(path, line, row, column):
    """``column`` parsed as an integer (``"3"`` or ``"3.0"``)."""
    value = cell(path, line, row, column)
    try:
        return int(value)
    except ValueError:
        pass
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is None or not number.is_integer():
        raise DataError(
            f"{path}, line {line}: column '{column}' must be an integer, got '{value}'"
        )
    return int(number)


def float_cell(path, line, row, column):
    """``column`` parsed as a finite float."""
    value = cell(path, line, row, column)
    try:
        number = float(value)
    except ValueError:
        number = None
    if (
        number is None
        or number != number
        or number in (float("inf"), float("-inf"))
    ):
        raise DataError(
            f"{path}, line {line}: column '{column}' must be a number, got '{value}'"
        )
    return number


def check_class_ids(path, id_lines, names):
    """Check that class ids run 0..K-1 without gaps and that each id has one name and vice versa.

    Arguments
    ---------
    path : str
        The metadata CSV (for messages).
    id_lines : list of (line, class_id, class_name)
    names : str
        What the name column is called (for messages).

    Returns
    -------
    list of class names ordered by id.
    """
    name_of, id_of = {}, {}
    for line, class_id, name in id_lines:
        if class_id < 0:
            raise DataError(
                f"{path}, line {line}: class id {class_id} out of range (must be >= 0)"
            )
        if class_id in name_of and name_of[class_id] != name:
            raise DataError(
                f"{path}, line {line}: class id {class_id} has {names} '{name}' here but "
                f"'{name_of[class_id]}' on an earlier line"
            )
        if name in id_of and id_of[name] != class_id:
            raise DataError(
                f"{path}, line {line}: {names} '{name}' has class id {class_id} here but "
                f"{id_of[name]} on an earlier line"
            )
        name_of[class_id] = name
        id_of[name] = class_id
    if not name_of:
        raise DataError(f"{path}: no clips listed")
    num_classes = len(name_of)
    for line, class_id, _ in id_lines:
        if class_id >= num_classes:
            missing = min(set(range(num_classes)) - set(name_of))
            raise DataError(
                f"{path}, line {line}: class id {class_id} out of range (the {num_classes} classes must have "
                f"ids 0..{num_classes - 1}; id {missing} never appears)"
            )
    return [name_of[index] for index in range(num_classes)]


# --------------------------------------------------------------------------------------------- audio


def audio_entry(wav_path, csv_path, line, check_audio):
    """Check that an audio file named at ``csv_path:line`` exists; with ``check_audio`` read its header.

    Returns ``{"duration": seconds, "sample_rate": Hz}`` (both None when ``check_audio`` is False).
    """
    if not os.path.isfile(wav_path):
        raise DataError(
            f"{csv_path}, line {line}: audio file not found: {wav_path}"
        )
    if not check_audio:
        return {"duration": None, "sample_rate": None}
    try:
        info = audio_info(wav_path)
    except AudioError as err:
        raise AudioError(f"{err} (listed in {csv_path}, line {line})") from None
    return {
        "duration": round(info["duration"], 6),
        "sample_rate": info["sample_rate"],
    }


def progress(iterable, desc):
    """tqdm over a long loop, silent when stderr is not a terminal."""
    return tqdm(iterable, desc=desc, disable=None, leave=False)


# -------------------------------------------------------------------------------------- ground truth


def load_ground_truth(root):
    """The synthetic set's ground truth, when ``<root>/meta/events.csv`` and ``<root>/audio_clean/`` exist.

    Returns
    -------
    None for a real dataset, else ``(clean_folder, {filename: [event, ...]})`` with events
    ``{"category", "onset_s", "offset_s", "f_low_hz", "f_high_hz"}``; ``filename`` as written in events.csv.
    """
    events_path = os.path.join(root, "meta", "events.csv")
    clean_folder = os.path.join(root, "audio_clean")
    if not (os.path.isfile(events_path) and os.path.isdir(clean_folder)):
        return None
    _, rows = read_csv(events_path, EVENT_COLUMNS)
    events = {}
    for line, row in rows:
        filename = cell(events_path, line, row, "filename")
        event = {"category": cell(events_path, line, row, "category")}
        for column in EVENT_COLUMNS[2:]:
            event[column] = float_cell(events_path, line, row, column)
        if event["offset_s"] < event["onset_s"]:
            raise DataError(
                f"{events_path}, line {line}: offset_s {event['offset_s']} is before onset_s {event['onset_s']}"
            )
        events.setdefault(filename, []).append(event)
    return os.path.abspath(clean_folder), events


CLEAN_BY_CLASS = "by_class"


def attach_ground_truth(entry, ground_truth, relative_name, csv_path, line):
    """Add ``clean_wav`` and ``events`` to a manifest entry when the dataset has ground truth, and
    ``clean_by_class`` (``{class: path}``, each class's events alone) when ``audio_clean/by_class/`` exists
    (the multi-label layout: the clean source of each class's explanation)."""
    if ground_truth is None:
        return
    clean_folder, events = ground_truth
    clean_path = os.path.join(clean_folder, relative_name)
    if not os.path.isfile(clean_path):
        raise DataError(
            f"{csv_path}, line {line}: clean audio file not found: {clean_path}"
        )
    entry["clean_wav"] = clean_path
    entry["events"] = list(events.get(relative_name, []))
    by_class_folder = os.path.join(clean_folder, CLEAN_BY_CLASS)
    if os.path.isdir(by_class_folder):
        by_class = {}
        for event in entry["events"]:
            path = os.path.join(
                by_class_folder, event["category"], relative_name
            )
            if not os.path.isfile(path):
                raise DataError(
                    f"{csv_path}, line {line}: the clean source of class '{event['category']}' is "
                    f"missing: {path}"
                )
            by_class[event["category"]] = path
        entry["clean_by_class"] = by_class


# ------------------------------------------------------------------------------------ writing, skip


def output_paths(save_folder):
    """``{"train", "valid", "test", "classes"}`` -> JSON paths in ``save_folder``."""
    paths = {
        split: os.path.join(save_folder, f"{split}.json") for split in SPLITS
    }
    paths["classes"] = os.path.join(save_folder, "classes.json")
    return paths


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _result(save_folder):
    paths = output_paths(save_folder)
    classes = _read_json(paths["classes"])
    if not isinstance(classes, list):
        raise DataError(
            f"{paths['classes']}: class list missing or unreadable (run data preparation again)"
        )
    return {
        "train": paths["train"],
        "valid": paths["valid"],
        "test": paths["test"],
        "classes": classes,
    }


def file_fingerprint(path):
    """``{"size", "mtime_ns"}`` of a metadata file (None when missing), recorded so that an edited CSV is
    prepared again."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def existing_preparation(save_folder, opts, skip_prep):
    """The skip logic shared by the preparers.

    Returns the preparer's result dict when preparation can be skipped, None when it must run. With
    ``skip_prep`` it never runs (DataError when the manifests are missing); otherwise it is skipped when all
    outputs exist and ``prepare_opts.json`` records the same ``opts`` (data folder, folds / splits,
    ``PREP_VERSION``, ``check_audio`` and the metadata file's size and mtime).
    """
    paths = output_paths(save_folder)
    all_exist = all(os.path.isfile(path) for path in paths.values())
    if skip_prep:
        if not all_exist:
            missing = [
                path for path in paths.values() if not os.path.isfile(path)
            ]
            raise DataError(
                f"{missing[0]}: manifest not found, but skip_prep is set (prepare the data first)"
            )
        if not os.path.isfile(
            os.path.join(save_folder, OPTS_FILE)
        ):  # written last: its absence is a cut-short run
            raise DataError(
                f"{os.path.join(save_folder, OPTS_FILE)}: not found, so the preparation that wrote the "
                "manifests beside it was interrupted; run once without skip_prep to prepare the data again"
            )
        return _result(save_folder)
    if all_exist and _read_json(os.path.join(save_folder, OPTS_FILE)) == opts:
        logger.info(
            "Manifests in %s match the options, preparation skipped",
            save_folder,
        )
        return _result(save_folder)
    return None


def write_preparation(save_folder, manifests, classes, opts):
    """Write ``{split: manifest}``, ``classes.json`` and, last, ``prepare_opts.json``; return the result dict.

    The old ``prepare_opts.json`` is removed first, so that an interrupted write is never taken for a
    finished preparation.
    """
    os.makedirs(save_folder, exist_ok=True)
    opts_path = os.path.join(save_folder, OPTS_FILE)
    if os.path.exists(opts_path):
        os.remove(opts_path)
    paths = output_paths(save_folder)
    for split in SPLITS:
        atomic_write_json(paths[split], manifests[split])
    atomic_write_json(paths["classes"], list(classes))
    atomic_write_json(opts_path, opts)
    logger.info(
        "Wrote manifests to %s (%s)",
        save_folder,
        ", ".join(
            f"{split}: {len(manifests[split])} clips" for split in SPLITS
        ),
    )
    return {
        "train": paths["train"],
        "valid": paths["valid"],
        "test": paths["test"],
        "classes": list(classes),
    }


def stem_id(path, line, filename, seen):
    """The manifest id of ``filename`` (its stem); DataError when two lines give the same id."""
    clip_id = os.path.splitext(os.path.basename(filename))[0]
    if clip_id in seen:
        raise DataError(
            f"{path}, line {line}: clip id '{clip_id}' ({filename}) already listed on line {seen[clip_id]}"
        )
    seen[clip_id] = line
    return clip_id


def fold_list(folds, name, all_folds):
    """``folds`` (an int or a sequence of ints) as a sorted list; DataError for a fold outside ``all_folds``."""
    if isinstance(folds, (int, str)):
        folds = [folds]
    result = []
    for fold in folds:
        try:
            number = int(fold)
        except (TypeError, ValueError):
            number = None
        if (
            number is None
            or str(number) != str(fold).strip()
            or number not in all_folds
        ):
            raise DataError(
                f"{name}: unknown fold '{fold}' (folds are {min(all_folds)}..{max(all_folds)})"
            )
        result.append(number)
    return sorted(set(result))


def check_disjoint(named_folds):
    """DataError when a fold is given to two splits (``{"train_folds": [...], ...}``)."""
    owner = {}
    for name, folds in named_folds.items():
        for fold in folds:
            if fold in owner:
                raise DataError(
                    f"{name}: fold {fold} is also in {owner[fold]} (splits must not share folds)"
                )
            owner[fold] = name


def shuffled_label_manifest(json_path, out_path, seed=0):
    """Write a copy of a manifest whose labels (``label_id``/``label``, or ``targets``/``target_mask``/``labels``
    for a multi-label one) are permuted among its clips, with ``seed``. Returns ``out_path``."""
    with open(json_path, encoding="utf-8") as handle:
        manifest = json.load(handle)
    ids = list(manifest)
    keys = [
        k
        for k in ("label_id", "label", "labels", "targets", "target_mask")
        if k in manifest[ids[0]]
    ]
    import torch  # the permutation of the sanity check's torch-seeded draws

    order = torch.randperm(
        len(ids), generator=torch.Generator().manual_seed(int(seed))
    ).tolist()
    shuffled = {}
    for clip_id, source in zip(ids, order):
        entry = dict(manifest[clip_id])
        entry.update({key: manifest[ids[source]][key] for key in keys})
        shuffled[clip_id] = entry
    atomic_write_json(out_path, shuffled)
    return out_path
