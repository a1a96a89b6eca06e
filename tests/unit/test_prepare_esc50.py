"""ESC-50 preparation on a tiny synthetic set written in the ESC-50 layout."""

import os
import shutil

import pytest
from manifest_io import OUTPUTS, load, read_rows, snapshot, write_rows

from interpretability.data.esc50 import prepare_esc50
from interpretability.data.pipelines import classification_datasets
from interpretability.data.synthetic import generate_dataset
from interpretability.errors import AudioError, DataError, InputError

DURATION = 0.5
SAMPLE_RATE = 16000


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("esc50") / "ESC-50"
    generate_dataset(
        str(root),
        layout="esc50",
        clips_per_class=5,
        duration=DURATION,
        sample_rate=SAMPLE_RATE,
        seed=0,
        n_classes=3,
        show_progress=False,
    )
    return root


@pytest.fixture
def dataset(generated, tmp_path):
    """A private copy of the generated set, free to break."""
    root = tmp_path / "ESC-50"
    shutil.copytree(generated, root)
    return root


def test_manifests_match_metadata(generated, tmp_path):
    save = tmp_path / "save"
    result = prepare_esc50(str(generated), str(save))
    _, rows = read_rows(generated / "meta" / "esc50.csv")
    assert {int(row["fold"]) for row in rows} == {1, 2, 3, 4, 5}, (
        "fixture must cover the 5 folds"
    )

    classes = load(save / "classes.json")
    by_target = {int(row["target"]): row["category"] for row in rows}
    assert (
        classes
        == [by_target[index] for index in range(len(by_target))]
        == result["classes"]
    )
    assert len(classes) == 3

    events = {}
    for row in read_rows(generated / "meta" / "events.csv")[1]:
        events.setdefault(row["filename"], []).append(row)
    split_folds = {"train": {1, 2, 3}, "valid": {4}, "test": {5}}
    for split, folds in split_folds.items():
        assert result[split] == str(save / f"{split}.json")
        manifest = load(result[split])
        expected = {
            row["filename"][:-4]: row
            for row in rows
            if int(row["fold"]) in folds
        }
        assert set(manifest) == set(expected) and manifest
        for clip_id, entry in manifest.items():
            row = expected[clip_id]
            assert entry["wav"] == os.path.join(
                str(generated), "audio", row["filename"]
            )
            assert os.path.isabs(entry["wav"]) and os.path.isfile(entry["wav"])
            assert entry["label"] == row["category"]
            assert entry["label_id"] == int(row["target"])
            assert classes[entry["label_id"]] == entry["label"]
            assert entry["fold"] == int(row["fold"])
            assert entry["sample_rate"] == SAMPLE_RATE
            assert entry["duration"] == pytest.approx(
                DURATION, abs=1.0 / SAMPLE_RATE
            )
            assert entry["clean_wav"] == os.path.join(
                str(generated), "audio_clean", row["filename"]
            )
            assert os.path.isfile(entry["clean_wav"])
            assert [event["category"] for event in entry["events"]] == [
                event["category"] for event in events[row["filename"]]
            ]
            for got, want in zip(entry["events"], events[row["filename"]]):
                for key in ("onset_s", "offset_s", "f_low_hz", "f_high_hz"):
                    assert got[key] == pytest.approx(float(want[key]))
    total = sum(len(load(result[split])) for split in split_folds)
    assert total == len(rows)


def test_real_dataset_without_ground_truth(dataset, tmp_path):
    shutil.rmtree(dataset / "audio_clean")
    os.remove(dataset / "meta" / "events.csv")
    result = prepare_esc50(
        str(dataset), str(tmp_path / "save"), check_audio=False
    )
    entry = next(iter(load(result["test"]).values()))
    assert "clean_wav" not in entry and "events" not in entry
    assert entry["duration"] is None and entry["sample_rate"] is None


def test_custom_folds_and_fold_arguments(generated, tmp_path):
    result = prepare_esc50(
        str(generated),
        str(tmp_path / "save"),
        train_folds=[1, 2],
        valid_folds=[3],
        test_folds=(4, 5),
    )
    assert {entry["fold"] for entry in load(result["train"]).values()} == {1, 2}
    assert {entry["fold"] for entry in load(result["valid"]).values()} == {3}
    assert {entry["fold"] for entry in load(result["test"]).values()} == {4, 5}
    with pytest.raises(DataError, match="test_folds: unknown fold '6'"):
        prepare_esc50(str(generated), str(tmp_path / "other"), test_folds=(6,))
    with pytest.raises(DataError, match="fold 3"):
        prepare_esc50(
            str(generated),
            str(tmp_path / "other"),
            valid_folds=(3,),
            test_folds=(3,),
        )


def test_skip_when_options_match_and_rerun_when_they_change(
    generated, tmp_path
):
    save = tmp_path / "save"
    prepare_esc50(str(generated), str(save))
    for name in OUTPUTS:
        os.utime(save / name, (1_000_000, 1_000_000))
    result = prepare_esc50(str(generated), str(save))
    assert all(os.stat(save / name).st_mtime == 1_000_000 for name in OUTPUTS)
    assert result["classes"] == load(save / "classes.json")

    prepare_esc50(
        str(generated), str(save), train_folds=(1, 2, 4), valid_folds=(3,)
    )
    assert all(os.stat(save / name).st_mtime != 1_000_000 for name in OUTPUTS)
    assert {entry["fold"] for entry in load(save / "valid.json").values()} == {
        3
    }
    assert load(save / "prepare_opts.json")["valid_folds"] == [3]


def test_edited_metadata_is_prepared_again(dataset, tmp_path):
    save = tmp_path / "save"
    prepare_esc50(str(dataset), str(save))
    csv_path = dataset / "meta" / "esc50.csv"
    fieldnames, rows = read_rows(csv_path)
    dropped = rows.pop()
    write_rows(csv_path, fieldnames, rows)
    os.utime(csv_path, ns=(os.stat(csv_path).st_mtime_ns + 10**9,) * 2)
    prepare_esc50(str(dataset), str(save))
    assert sum(
        len(load(save / f"{split}.json"))
        for split in ("train", "valid", "test")
    ) == len(rows)
    assert all(
        dropped["filename"][:-4] not in load(save / f"{split}.json")
        for split in ("train", "valid", "test")
    )


def test_manifests_load_as_speechbrain_datasets(generated, tmp_path):
    result = prepare_esc50(str(generated), str(tmp_path / "save"))
    datasets = classification_datasets(result, clip_seconds=DURATION)
    item = datasets["test"][0]
    assert (
        item["sig"].shape == item["clean_sig"].shape == (int(DURATION * 16000),)
    )
    assert int(item["class_id"]) == load(result["test"])[item["id"]]["label_id"]


def test_skip_prep(generated, tmp_path):
    save = tmp_path / "save"
    with pytest.raises(DataError, match="train.json"):
        prepare_esc50(str(generated), str(save), skip_prep=True)
    prepare_esc50(str(generated), str(save))
    before = snapshot(save)
    result = prepare_esc50(
        "/nonexistent",
        str(save),
        test_folds=(4,),
        valid_folds=(5,),
        skip_prep=True,
    )
    assert snapshot(save) == before
    assert result["test"] == str(save / "test.json")


def test_missing_data_folder(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match="nowhere: data folder not found"):
        prepare_esc50(str(missing), str(tmp_path / "save"))
    assert not (tmp_path / "save").exists()


def test_missing_metadata(dataset, tmp_path):
    os.remove(dataset / "meta" / "esc50.csv")
    with pytest.raises(
        DataError, match=r"meta/esc50\.csv: metadata file not found"
    ):
        prepare_esc50(str(dataset), str(tmp_path / "save"))


def test_missing_column(dataset, tmp_path):
    csv_path = dataset / "meta" / "esc50.csv"
    fieldnames, rows = read_rows(csv_path)
    fieldnames.remove("fold")
    write_rows(
        csv_path,
        fieldnames,
        [{k: v for k, v in row.items() if k != "fold"} for row in rows],
    )
    with pytest.raises(DataError) as info:
        prepare_esc50(str(dataset), str(tmp_path / "save"))
    assert (
        "esc50.csv" in str(info.value)
        and "'fold'" in str(info.value)
        and "missing" in str(info.value)
    )


@pytest.mark.parametrize(
    "changes, problem",
    [
        ({"fold": "two"}, "column 'fold' must be an integer, got 'two'"),
        ({"fold": "7"}, "unknown fold '7'"),
        ({"target": "-1"}, "class id -1 out of range"),
        ({"target": "40", "category": "new-class"}, "class id 40 out of range"),
        ({"category": "not-its-name"}, "has category 'not-its-name' here"),
        ({"filename": ""}, "empty cell in column 'filename'"),
    ],
)
def test_bad_value_names_file_line_and_value(
    dataset, tmp_path, changes, problem
):
    csv_path = dataset / "meta" / "esc50.csv"
    fieldnames, rows = read_rows(csv_path)
    rows[-1].update(
        changes
    )  # the last row: its class has appeared on earlier lines
    write_rows(csv_path, fieldnames, rows)
    with pytest.raises(DataError) as info:
        prepare_esc50(str(dataset), str(tmp_path / "save"))
    message = str(info.value)
    assert (
        str(csv_path) in message
        and f"line {len(rows) + 1}" in message
        and problem in message
    )


def test_missing_audio_file(dataset, tmp_path):
    csv_path = dataset / "meta" / "esc50.csv"
    _, rows = read_rows(csv_path)
    victim = next(i for i, row in enumerate(rows) if row["fold"] == "5")
    os.remove(dataset / "audio" / rows[victim]["filename"])
    with pytest.raises(DataError) as info:
        prepare_esc50(str(dataset), str(tmp_path / "save"), check_audio=False)
    message = str(info.value)
    assert f"esc50.csv, line {victim + 2}" in message and "not found" in message
    assert str(dataset / "audio" / rows[victim]["filename"]) in message


def test_unreadable_audio_file(dataset, tmp_path):
    _, rows = read_rows(dataset / "meta" / "esc50.csv")
    garbage = dataset / "audio" / rows[0]["filename"]
    garbage.write_bytes(b"this is not a wav file at all" * 10)
    with pytest.raises(AudioError) as info:
        prepare_esc50(str(dataset), str(tmp_path / "save"))
    assert str(garbage) in str(info.value) and "unreadable" in str(info.value)
    assert isinstance(info.value, InputError)
    # without the header check only existence is tested
    prepare_esc50(str(dataset), str(tmp_path / "save"), check_audio=False)


def test_failed_reprepare_leaves_manifests_untouched(dataset, tmp_path):
    save = tmp_path / "save"
    prepare_esc50(str(dataset), str(save))
    before = snapshot(save)
    csv_path = dataset / "meta" / "esc50.csv"
    fieldnames, rows = read_rows(csv_path)
    rows[-1]["fold"] = "x"
    write_rows(csv_path, fieldnames, rows)
    with pytest.raises(DataError, match=f"line {len(rows) + 1}"):
        prepare_esc50(
            str(dataset),
            str(save),
            train_folds=(1, 2),
            valid_folds=(3,),
            test_folds=(4, 5),
        )
    assert snapshot(save) == before
    assert sorted(os.listdir(save)) == sorted(OUTPUTS)
