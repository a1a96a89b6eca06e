"""UrbanSound8K preparation on a tiny synthetic set written in the UrbanSound8K layout."""

import os
import shutil

import pytest
import soundfile
from manifest_io import OUTPUTS, load, read_rows, snapshot, write_rows

from interpretability.data.synthetic import generate_dataset
from interpretability.data.us8k import prepare_us8k
from interpretability.errors import AudioError, DataError

DURATION = 0.5
SAMPLE_RATE = 16000


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("us8k") / "UrbanSound8K"
    generate_dataset(
        str(root),
        layout="us8k",
        clips_per_class=10,
        duration=DURATION,
        sample_rate=SAMPLE_RATE,
        seed=0,
        n_classes=2,
        show_progress=False,
    )
    return root


@pytest.fixture
def dataset(generated, tmp_path):
    root = tmp_path / "UrbanSound8K"
    shutil.copytree(generated, root)
    return root


def metadata(root):
    return root / "metadata" / "UrbanSound8K.csv"


def test_manifests_match_metadata(generated, tmp_path):
    result = prepare_us8k(str(generated), str(tmp_path / "save"))
    _, rows = read_rows(metadata(generated))
    assert {int(row["fold"]) for row in rows} == set(range(1, 11)), (
        "fixture must cover the 10 folds"
    )
    by_id = {int(row["classID"]): row["class"] for row in rows}
    assert (
        result["classes"]
        == [by_id[index] for index in range(len(by_id))]
        == load(tmp_path / "save/classes.json")
    )

    events = {}
    for row in read_rows(generated / "meta" / "events.csv")[1]:
        events.setdefault(row["filename"], []).append(row["category"])
    rates = set()
    for split, folds in {
        "train": set(range(1, 9)),
        "valid": {9},
        "test": {10},
    }.items():
        manifest = load(result[split])
        expected = {
            row["slice_file_name"][:-4]: row
            for row in rows
            if int(row["fold"]) in folds
        }
        assert set(manifest) == set(expected) and manifest
        for clip_id, entry in manifest.items():
            row = expected[clip_id]
            relative = f"fold{row['fold']}/{row['slice_file_name']}"
            assert entry["wav"] == os.path.join(
                str(generated), "audio", relative
            )
            assert entry["label"] == row["class"] and entry["label_id"] == int(
                row["classID"]
            )
            assert entry["fold"] == int(row["fold"])
            header = soundfile.info(
                entry["wav"]
            )  # US8K files differ in rate, channels and length
            assert entry["sample_rate"] == header.samplerate
            assert entry["duration"] == pytest.approx(
                header.frames / header.samplerate, abs=1e-6
            )
            assert entry["clean_wav"] == os.path.join(
                str(generated), "audio_clean", relative
            )
            assert os.path.isfile(entry["clean_wav"])
            assert [event["category"] for event in entry["events"]] == events[
                relative
            ]
            rates.add(entry["sample_rate"])
    assert len(rates) > 1, (
        "the fixture's files should differ in sample rate, as US8K's do"
    )


@pytest.mark.parametrize(
    "test_fold, valid_fold, expected_valid",
    [(10, None, 9), (1, None, 10), (5, 2, 2)],
)
def test_valid_and_test_fold_choice(
    generated, tmp_path, test_fold, valid_fold, expected_valid
):
    result = prepare_us8k(
        str(generated),
        str(tmp_path / "save"),
        test_fold=test_fold,
        valid_fold=valid_fold,
    )
    assert {entry["fold"] for entry in load(result["test"]).values()} == {
        test_fold
    }
    assert {entry["fold"] for entry in load(result["valid"]).values()} == {
        expected_valid
    }
    assert {entry["fold"] for entry in load(result["train"]).values()} == set(
        range(1, 11)
    ) - {test_fold, expected_valid}


def test_bad_fold_arguments(generated, tmp_path):
    with pytest.raises(DataError, match="test_fold: unknown fold '11'"):
        prepare_us8k(str(generated), str(tmp_path / "save"), test_fold=11)
    with pytest.raises(
        DataError, match="valid_fold: fold 4 is also the test_fold"
    ):
        prepare_us8k(
            str(generated), str(tmp_path / "save"), test_fold=4, valid_fold=4
        )


def test_skip_when_options_match_and_rerun_when_they_change(
    generated, tmp_path
):
    save = tmp_path / "save"
    prepare_us8k(str(generated), str(save))
    for name in OUTPUTS:
        os.utime(save / name, (1_000_000, 1_000_000))
    prepare_us8k(
        str(generated), str(save), test_fold=10, valid_fold=9
    )  # the same options, spelt out
    assert all(os.stat(save / name).st_mtime == 1_000_000 for name in OUTPUTS)
    prepare_us8k(str(generated), str(save), test_fold=3)
    assert all(os.stat(save / name).st_mtime != 1_000_000 for name in OUTPUTS)
    assert {entry["fold"] for entry in load(save / "test.json").values()} == {3}


def test_missing_data_folder_and_metadata(dataset, tmp_path):
    with pytest.raises(DataError, match="nowhere: data folder not found"):
        prepare_us8k(str(tmp_path / "nowhere"), str(tmp_path / "save"))
    os.remove(metadata(dataset))
    with pytest.raises(
        DataError, match=r"metadata/UrbanSound8K\.csv: metadata file not found"
    ):
        prepare_us8k(str(dataset), str(tmp_path / "save"))


def test_missing_column(dataset, tmp_path):
    fieldnames, rows = read_rows(metadata(dataset))
    fieldnames.remove("classID")
    write_rows(
        metadata(dataset),
        fieldnames,
        [{k: v for k, v in row.items() if k != "classID"} for row in rows],
    )
    with pytest.raises(DataError) as info:
        prepare_us8k(str(dataset), str(tmp_path / "save"))
    assert "UrbanSound8K.csv" in str(info.value) and "'classID' missing" in str(
        info.value
    )


@pytest.mark.parametrize(
    "changes, problem",
    [
        ({"fold": "1.5"}, "column 'fold' must be an integer, got '1.5'"),
        ({"fold": "11"}, "unknown fold '11'"),
        ({"classID": "dog"}, "column 'classID' must be an integer, got 'dog'"),
        ({"classID": "12", "class": "new_class"}, "class id 12 out of range"),
        ({"class": "siren_typo"}, "has class 'siren_typo' here"),
    ],
)
def test_bad_value_names_file_line_and_value(
    dataset, tmp_path, changes, problem
):
    fieldnames, rows = read_rows(metadata(dataset))
    rows[-1].update(changes)
    write_rows(metadata(dataset), fieldnames, rows)
    with pytest.raises(DataError) as info:
        prepare_us8k(str(dataset), str(tmp_path / "save"))
    message = str(info.value)
    assert (
        str(metadata(dataset)) in message
        and f"line {len(rows) + 1}" in message
        and problem in message
    )


def test_missing_and_unreadable_audio(dataset, tmp_path):
    _, rows = read_rows(metadata(dataset))
    first = (
        dataset
        / "audio"
        / f"fold{rows[0]['fold']}"
        / rows[0]["slice_file_name"]
    )
    first.write_bytes(b"\x00garbage" * 50)
    with pytest.raises(AudioError) as info:
        prepare_us8k(str(dataset), str(tmp_path / "save"))
    assert str(first) in str(info.value) and "UrbanSound8K.csv, line 2" in str(
        info.value
    )
    last = (
        dataset
        / "audio"
        / f"fold{rows[-1]['fold']}"
        / rows[-1]["slice_file_name"]
    )
    os.remove(last)
    with pytest.raises(DataError) as info:
        prepare_us8k(str(dataset), str(tmp_path / "save"), check_audio=False)
    assert str(last) in str(
        info.value
    ) and f"UrbanSound8K.csv, line {len(rows) + 1}" in str(info.value)


def test_failed_reprepare_leaves_manifests_untouched(dataset, tmp_path):
    save = tmp_path / "save"
    prepare_us8k(str(dataset), str(save))
    before = snapshot(save)
    os.remove(
        dataset
        / "audio_clean"
        / "fold10"
        / os.listdir(dataset / "audio_clean" / "fold10")[0]
    )
    with pytest.raises(DataError, match="clean audio file not found"):
        prepare_us8k(str(dataset), str(save), test_fold=2)
    assert snapshot(save) == before
    assert sorted(os.listdir(save)) == sorted(OUTPUTS)
