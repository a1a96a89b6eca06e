"""Hostile metadata: what a user's odd or broken ESC-50 / UrbanSound8K / SONYC-UST metadata
gives. Data that is fine but written differently (byte-order mark, CRLF, a row repeated cell for cell, stray
non-audio files nobody names) is read; anything else is one error naming the file, the line and the problem, and a
failed re-preparation leaves the manifests already written as they were. The recipe runs at the end check what the
user sees: exit status 2 and one ``error:`` line, no traceback."""

import logging
import os
import shutil

import pytest
from hostile_cli import ROOT, one_line_error, run_cli, tiny_esc50
from manifest_io import OUTPUTS, load, read_rows, snapshot, write_rows

from interpretability.data.esc50 import prepare_esc50
from interpretability.data.sonyc_ust import prepare_sonyc_ust
from interpretability.data.synthetic import generate_dataset
from interpretability.data.us8k import prepare_us8k
from interpretability.errors import AudioError, DataError

SPLITS = ("train", "valid", "test")


def rewrite(path, transform):
    path.write_bytes(transform(path.read_bytes()))


def bom_and_crlf(data):
    return b"\xef\xbb\xbf" + data.replace(b"\r\n", b"\n").replace(
        b"\n", b"\r\n"
    )


def manifests(result):
    return {split: load(result[split]) for split in SPLITS}


def relative(entries, root):
    """Manifests with paths made relative to the data folder (to compare two copies of one dataset)."""

    def strip(value):
        if isinstance(value, str) and value.startswith(str(root)):
            return os.path.relpath(value, root)
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items()}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(entries)


# ------------------------------------------------------------------------------------------ datasets


@pytest.fixture(scope="module")
def esc50(tmp_path_factory):
    root = tmp_path_factory.mktemp("esc50") / "ESC-50"
    tiny_esc50(root)
    return root


@pytest.fixture(scope="module")
def us8k(tmp_path_factory):
    root = tmp_path_factory.mktemp("us8k") / "UrbanSound8K"
    generate_dataset(
        str(root),
        layout="us8k",
        clips_per_class=10,
        duration=0.5,
        seed=0,
        n_classes=2,
        show_progress=False,
    )
    return root


@pytest.fixture(scope="module")
def sonyc(tmp_path_factory):
    root = tmp_path_factory.mktemp("sonyc") / "SONYC-UST"
    generate_dataset(
        str(root),
        layout="sonyc",
        clips_per_class=2,
        duration=0.5,
        seed=0,
        show_progress=False,
    )
    return root


def copy(source, tmp_path):
    target = tmp_path / source.name
    shutil.copytree(source, target)
    return target


# --------------------------------------------------------------------------- ESC-50 and UrbanSound8K


def esc50_csv(root):
    return root / "meta" / "esc50.csv"


def test_bom_and_crlf_are_read_as_the_plain_file(esc50, tmp_path):
    plain = manifests(prepare_esc50(str(esc50), str(tmp_path / "plain")))
    root = copy(esc50, tmp_path)
    rewrite(esc50_csv(root), bom_and_crlf)
    odd = manifests(prepare_esc50(str(root), str(tmp_path / "odd")))
    assert relative(odd, root) == relative(plain, esc50)
    assert all(
        entry["label"].strip() == entry["label"]
        for m in odd.values()
        for entry in m.values()
    )


def test_us8k_bom_and_crlf_are_read_as_the_plain_file(us8k, tmp_path):
    plain = manifests(
        prepare_us8k(
            str(us8k), str(tmp_path / "plain"), test_fold=2, valid_fold=1
        )
    )
    root = copy(us8k, tmp_path)
    rewrite(root / "metadata" / "UrbanSound8K.csv", bom_and_crlf)
    odd = manifests(
        prepare_us8k(
            str(root), str(tmp_path / "odd"), test_fold=2, valid_fold=1
        )
    )
    assert relative(odd, root) == relative(plain, us8k)


def test_repeated_row_is_dropped_with_a_warning(esc50, tmp_path, caplog):
    """A row repeating another cell for cell adds nothing: the manifests are those of the file without it, and a
    warning names both lines. (It was refused as 'clip id already listed'.)"""
    plain = manifests(prepare_esc50(str(esc50), str(tmp_path / "plain")))
    root = copy(esc50, tmp_path)
    fieldnames, rows = read_rows(esc50_csv(root))
    write_rows(esc50_csv(root), fieldnames, rows + [rows[3]])
    with caplog.at_level(logging.WARNING):
        twice = manifests(prepare_esc50(str(root), str(tmp_path / "twice")))
    assert relative(twice, root) == relative(plain, esc50)
    assert (
        f"line {len(rows) + 2} repeats line 5" in caplog.text
        and "esc50.csv" in caplog.text
    )


def test_us8k_repeated_row_is_dropped_with_a_warning(us8k, tmp_path, caplog):
    root = copy(us8k, tmp_path)
    csv_path = root / "metadata" / "UrbanSound8K.csv"
    fieldnames, rows = read_rows(csv_path)
    write_rows(csv_path, fieldnames, rows + rows[:2])
    with caplog.at_level(logging.WARNING):
        result = prepare_us8k(
            str(root), str(tmp_path / "save"), test_fold=2, valid_fold=1
        )
    assert sum(len(m) for m in manifests(result).values()) == len(rows)
    assert "2 duplicate row(s) ignored" in caplog.text


def test_two_different_rows_of_one_clip_are_refused(esc50, tmp_path):
    root = copy(esc50, tmp_path)
    fieldnames, rows = read_rows(esc50_csv(root))
    other = dict(rows[3], fold="1" if rows[3]["fold"] != "1" else "2")
    write_rows(esc50_csv(root), fieldnames, rows + [other])
    with pytest.raises(DataError) as info:
        prepare_esc50(str(root), str(tmp_path / "save"))
    assert f"esc50.csv, line {len(rows) + 2}: clip id" in str(
        info.value
    ) and "already listed on line 5" in str(info.value)


def _drop(column):
    def change(fieldnames, rows):
        return [f for f in fieldnames if f != column], [
            {k: v for k, v in r.items() if k != column} for r in rows
        ]

    return change


def _rename(column, new):
    def change(fieldnames, rows):
        return (
            [new if f == column else f for f in fieldnames],
            [
                {(new if k == column else k): v for k, v in r.items()}
                for r in rows
            ],
        )

    return change


def _set(index, **cells):
    def change(fieldnames, rows):
        rows[index].update(cells)
        return fieldnames, rows

    return change


@pytest.mark.parametrize(
    "change, where, problem",
    [
        (_drop("fold"), "", "required column 'fold' missing"),
        (
            _rename("target", "class_id"),
            "",
            "required column 'target' missing (header has: filename, fold, class_id",
        ),
        (
            _set(-1, fold="7"),
            "last",
            "unknown fold '7' (ESC-50 folds are 1..5)",
        ),
        (
            _set(-1, target="9"),
            "last",
            "has class id 9 here but",
        ),  # a known category, another id
        (
            _set(-1, target="9", category="new-class"),
            "last",
            "class id 9 out of range (the 4 classes must have ids",
        ),
        (_set(-1, target="-1"), "last", "class id -1 out of range"),
    ],
    ids=[
        "missing-column",
        "renamed-column",
        "unknown-fold",
        "target-of-another-class",
        "target-outside-the-list",
        "negative-target",
    ],
)
def test_bad_metadata_is_one_error_and_keeps_the_old_manifests(
    esc50, tmp_path, change, where, problem
):
    root = copy(esc50, tmp_path)
    save = tmp_path / "save"
    prepare_esc50(str(root), str(save))
    before = snapshot(save)
    fieldnames, rows = change(*read_rows(esc50_csv(root)))
    write_rows(esc50_csv(root), fieldnames, rows)
    with pytest.raises(DataError) as info:
        prepare_esc50(str(root), str(save))
    message = str(info.value)
    assert (
        message.startswith(str(esc50_csv(root)))
        and problem in message
        and "\n" not in message
    )
    if where == "last":
        assert f"esc50.csv, line {len(rows) + 1}:" in message
    assert snapshot(save) == before and sorted(os.listdir(save)) == sorted(
        OUTPUTS
    )


def test_row_with_more_cells_than_the_header(esc50, tmp_path):
    """An unquoted comma shifts a row's cells: refused (the extra cells were silently dropped)."""
    root = copy(esc50, tmp_path)
    lines = esc50_csv(root).read_text().splitlines()
    lines[2] = lines[2] + ",stray"
    esc50_csv(root).write_text("\n".join(lines) + "\n")
    with pytest.raises(
        DataError,
        match=r"esc50\.csv, line 3: 8 cells but the header has 7 columns",
    ):
        prepare_esc50(str(root), str(tmp_path / "save"))


def test_column_named_twice(esc50, tmp_path):
    root = copy(esc50, tmp_path)
    text = esc50_csv(root).read_text().splitlines()
    text[0] = text[0].replace("esc10", "fold")
    esc50_csv(root).write_text("\n".join(text) + "\n")
    with pytest.raises(
        DataError,
        match=r"esc50\.csv: column 'fold' appears twice in the header",
    ):
        prepare_esc50(str(root), str(tmp_path / "save"))


def test_row_naming_a_missing_file(esc50, tmp_path):
    root = copy(esc50, tmp_path)
    _, rows = read_rows(esc50_csv(root))
    os.remove(root / "audio" / rows[5]["filename"])
    with pytest.raises(DataError) as info:
        prepare_esc50(str(root), str(tmp_path / "save"), check_audio=False)
    assert (
        f"esc50.csv, line 7: audio file not found: {root / 'audio' / rows[5]['filename']}"
        in str(info.value)
    )


def test_non_audio_files_in_audio_folder(esc50, us8k, tmp_path):
    """Named by no row: never read. Named by a row: an error naming the file and the row."""
    root = copy(esc50, tmp_path)
    (root / "audio" / "README.txt").write_text("notes")
    (root / "audio" / ".DS_Store").write_bytes(b"\0\1\2")
    result = manifests(prepare_esc50(str(root), str(tmp_path / "save")))
    assert not any(
        "README" in key or "DS_Store" in key
        for m in result.values()
        for key in m
    )

    us_root = copy(us8k, tmp_path)
    (us_root / "audio" / "fold1" / "notes.txt").write_text("notes")
    prepare_us8k(
        str(us_root), str(tmp_path / "us_save"), test_fold=2, valid_fold=1
    )

    fieldnames, rows = read_rows(esc50_csv(root))
    rows[6]["filename"] = "README.txt"
    write_rows(esc50_csv(root), fieldnames, rows)
    with pytest.raises(AudioError) as info:
        prepare_esc50(str(root), str(tmp_path / "save2"))
    assert str(root / "audio" / "README.txt") in str(
        info.value
    ) and "esc50.csv, line 8" in str(info.value)


# ------------------------------------------------------------------------------------------- SONYC-UST


def coarse(fieldnames):
    import re

    return [
        name for name in fieldnames if re.match(r"^\d+_[^_]+_presence$", name)
    ]


def test_sonyc_minus_one_and_clips_without_positive_label(
    sonyc, tmp_path, caplog
):
    """-1 (not annotated) is masked; a clip without any positive label is kept as a negative of every class; classes
    that no clip of a split holds are named in a warning (their AUPRC there is 0 by the DCASE convention)."""
    root = copy(sonyc, tmp_path)
    csv_path = root / "annotations.csv"
    fieldnames, rows = read_rows(csv_path)
    columns = coarse(fieldnames)
    clips = sorted({row["audio_filename"] for row in rows})
    negative, half_masked = clips[0::3], clips[1::3]
    for row in rows:
        if row["audio_filename"] in negative:
            row.update(dict.fromkeys(columns, "0"))
        elif row["audio_filename"] in half_masked:
            row.update(
                {
                    c: ("-1" if k % 2 == 0 else row[c])
                    for k, c in enumerate(columns)
                }
            )
    write_rows(csv_path, fieldnames, rows)
    with caplog.at_level(logging.WARNING):
        result = manifests(prepare_sonyc_ust(str(root), str(tmp_path / "save")))
    entries = {key: entry for m in result.values() for key, entry in m.items()}
    for clip in negative:
        entry = entries[clip[:-4]]
        assert (
            entry["labels"] == []
            and entry["targets"] == [0.0] * 8
            and entry["target_mask"] == [1] * 8
        )
    for clip in half_masked:
        entry = entries[clip[:-4]]
        assert entry["target_mask"] == [0, 1] * 4
        assert all(entry["targets"][k] == 0.0 for k in range(0, 8, 2))
    assert "no 'test' clip is labelled" in caplog.text


def test_sonyc_split_without_any_annotation_is_refused(sonyc, tmp_path):
    root = copy(sonyc, tmp_path)
    csv_path = root / "annotations.csv"
    fieldnames, rows = read_rows(csv_path)
    for row in rows:
        if row["split"] == "validate":
            row.update(dict.fromkeys(coarse(fieldnames), "-1"))
    write_rows(csv_path, fieldnames, rows)
    with pytest.raises(
        DataError,
        match=r"annotations\.csv: every presence value of the 'validate' clips is -1",
    ):
        prepare_sonyc_ust(str(root), str(tmp_path / "save"))


def test_sonyc_repeated_rows_bom_and_crlf(sonyc, tmp_path, caplog):
    """A repeated annotator 0 row (refused as a 'second annotator_id 0 row') and a repeated volunteer row are
    dropped with a warning; BOM and CRLF are read."""
    plain = manifests(prepare_sonyc_ust(str(sonyc), str(tmp_path / "plain")))
    root = copy(sonyc, tmp_path)
    csv_path = root / "annotations.csv"
    fieldnames, rows = read_rows(csv_path)
    verified = next(
        row
        for row in rows
        if row["split"] == "validate" and row["annotator_id"] == "0"
    )
    volunteer = next(
        row
        for row in rows
        if row["split"] == "train" and int(row["annotator_id"]) > 0
    )
    write_rows(csv_path, fieldnames, rows + [verified, volunteer])
    rewrite(csv_path, bom_and_crlf)
    with caplog.at_level(logging.WARNING):
        odd = manifests(prepare_sonyc_ust(str(root), str(tmp_path / "odd")))
    assert relative(odd, root) == relative(plain, sonyc)
    assert "2 duplicate row(s) ignored" in caplog.text


def test_sonyc_row_naming_a_non_audio_file(sonyc, tmp_path):
    root = copy(sonyc, tmp_path)
    (root / "audio-0" / "notes.txt").write_text("notes")
    prepare_sonyc_ust(
        str(root), str(tmp_path / "save")
    )  # named by no row: ignored
    csv_path = root / "annotations.csv"
    fieldnames, rows = read_rows(csv_path)
    first = rows[0]["audio_filename"]
    for row in rows:
        if row["audio_filename"] == first:
            row["audio_filename"] = "notes.txt"
    write_rows(csv_path, fieldnames, rows)
    with pytest.raises(DataError) as info:
        prepare_sonyc_ust(str(root), str(tmp_path / "save"))
    assert "annotations.csv, line 2:" in str(info.value)
    assert f"{root / 'audio-0' / 'notes.txt'} is not an audio file" in str(
        info.value
    )


# ---------------------------------------------------------------------------------- what the user sees


def test_recipe_with_a_row_naming_a_missing_file(esc50, tmp_path):
    root = copy(esc50, tmp_path)
    _, rows = read_rows(esc50_csv(root))
    missing = root / "audio" / rows[5]["filename"]
    os.remove(missing)
    result = run_cli(
        [
            "train_classifier.py",
            "hparams/classifier_cnn6.yaml",
            f"--data_folder={root}",
            f"--output_folder={tmp_path / 'out'}",
            "--download=False",
            "--clip_seconds=0.5",
        ],
        cwd=ROOT / "recipes" / "ESC50",
    )
    one_line_error(
        result, f"{esc50_csv(root)}, line 7: audio file not found: {missing}"
    )


def test_sonyc_recipe_with_a_split_without_annotation(sonyc, tmp_path):
    root = copy(sonyc, tmp_path)
    csv_path = root / "annotations.csv"
    fieldnames, rows = read_rows(csv_path)
    for row in rows:
        if row["split"] == "train":
            row.update(dict.fromkeys(coarse(fieldnames), "-1"))
    write_rows(csv_path, fieldnames, rows)
    result = run_cli(
        [
            "train_classifier.py",
            "hparams/classifier_cnn6.yaml",
            f"--data_folder={root}",
            f"--output_folder={tmp_path / 'out'}",
            "--download=False",
            "--clip_seconds=0.5",
        ],
        cwd=ROOT / "recipes" / "SONYC-UST",
    )
    one_line_error(
        result, f"{csv_path}: every presence value of the 'train' clips is -1"
    )
