"""SONYC-UST preparation on tiny synthetic sets written in the v2.3 and v1 layouts."""

import logging
import os
import re
import shutil

import pytest
import soundfile
import torch
from manifest_io import OUTPUTS, load, read_rows, snapshot, write_rows

from interpretability.data.pipelines import classification_datasets
from interpretability.data.sonyc_ust import prepare_sonyc_ust
from interpretability.data.synthetic import generate_dataset
from interpretability.errors import AudioError, DataError

COARSE = re.compile(r"^\d+_[^_]+_presence$")


def _generate(factory, version):
    root = factory.mktemp(f"sonyc{version}") / "SONYC-UST"
    summary = generate_dataset(
        str(root),
        layout="sonyc",
        clips_per_class=2,
        duration=0.5,
        sample_rate=16000,
        seed=0,
        show_progress=False,
        sonyc_version=version,
    )
    return root, summary


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    return _generate(tmp_path_factory, "2.3")


@pytest.fixture(scope="module")
def generated_v1(tmp_path_factory):
    return _generate(tmp_path_factory, "1")


@pytest.fixture
def dataset(generated, tmp_path):
    root = tmp_path / "SONYC-UST"
    shutil.copytree(generated[0], root)
    return root


def coarse_columns(fieldnames):
    return [name for name in fieldnames if COARSE.match(name)]


def expected_targets(rows, columns, split):
    """The baseline rule, written out: train = any volunteer's 1; else the annotator 0 row; -1 masked."""
    used = [
        row
        for row in rows
        if (
            int(row["annotator_id"]) > 0
            if split == "train"
            else int(row["annotator_id"]) == 0
        )
    ]
    targets = [
        1.0 if any(int(row[c]) == 1 for row in used) else 0.0 for c in columns
    ]
    mask = [0 if all(int(row[c]) == -1 for row in used) else 1 for c in columns]
    return targets, mask


def test_manifests_match_annotations(generated, tmp_path):
    root, summary = generated
    result = prepare_sonyc_ust(str(root), str(tmp_path / "save"))
    fieldnames, rows = read_rows(root / "annotations.csv")
    columns = coarse_columns(fieldnames)
    assert len(columns) == 8
    assert (
        result["classes"]
        == summary["classes"]
        == [c.split("_")[1] for c in columns]
    )
    assert load(tmp_path / "save" / "classes.json") == result["classes"]

    events = {}
    for row in read_rows(root / "meta" / "events.csv")[1]:
        events.setdefault(row["filename"], []).append(row["category"])
    total = 0
    for split, split_name in (
        ("train", "train"),
        ("valid", "validate"),
        ("test", "test"),
    ):
        manifest = load(result[split])
        clips = {}
        for row in rows:
            if row["split"] == split_name:
                clips.setdefault(row["audio_filename"], []).append(row)
        assert set(manifest) == {name[:-4] for name in clips} and manifest
        total += len(manifest)
        for filename, clip_rows in clips.items():
            entry = manifest[filename[:-4]]
            assert os.path.basename(
                entry["wav"]
            ) == filename and os.path.isfile(entry["wav"])
            assert re.fullmatch(
                r"audio-\d+", os.path.basename(os.path.dirname(entry["wav"]))
            )
            assert entry["split"] == split_name
            targets, mask = expected_targets(clip_rows, columns, split)
            assert entry["targets"] == targets and entry["target_mask"] == mask
            assert entry["labels"] == [
                name for name, t in zip(result["classes"], targets) if t == 1.0
            ]
            header = soundfile.info(entry["wav"])
            assert entry["sample_rate"] == header.samplerate == 16000
            assert entry["duration"] == pytest.approx(
                header.frames / header.samplerate
            )
            assert entry["clean_wav"] == os.path.join(
                str(root), "audio_clean", filename
            )
            assert sorted(
                event["category"] for event in entry["events"]
            ) == sorted(events[filename])
    assert total == len({row["audio_filename"] for row in rows})


def test_manifests_load_as_speechbrain_datasets(generated, tmp_path):
    result = prepare_sonyc_ust(str(generated[0]), str(tmp_path / "save"))
    item = classification_datasets(result, clip_seconds=0.5, multilabel=True)[
        "valid"
    ][0]
    entry = load(result["valid"])[item["id"]]
    assert item["target_vector"].tolist() == entry["targets"]
    assert item["annotated"].tolist() == entry["target_mask"]
    assert item["sig"].shape == item["clean_sig"].shape == (8000,)
    # each class's source apart (L-MAC FT's guidance and the ground truth of multi-label rows)
    sources = item["clean_class_sig"]
    assert sources.shape == (8, 8000)
    present = {
        result["classes"].index(event["category"]) for event in entry["events"]
    }
    assert set(entry["clean_by_class"]) == {
        event["category"] for event in entry["events"]
    }
    assert {c for c in range(8) if sources[c].abs().max() > 0} == present
    assert torch.allclose(
        sources.sum(dim=0), item["clean_sig"], atol=2e-4
    )  # they add up to the clip's clean


def test_missing_class_source_is_an_error(dataset, tmp_path):
    name = sorted(os.listdir(dataset / "audio_clean" / "by_class"))[0]
    victim = sorted(os.listdir(dataset / "audio_clean" / "by_class" / name))[0]
    os.remove(dataset / "audio_clean" / "by_class" / name / victim)
    with pytest.raises(
        DataError,
        match=f"clean source of class '{name}' is missing: .*{victim}",
    ):
        prepare_sonyc_ust(str(dataset), str(tmp_path / "save"))


def test_targets_volunteers_for_train_annotator_0_for_evaluation(
    dataset, tmp_path
):
    """Hand-made annotations: volunteers' union for train, the verified row alone for validate / test."""
    csv_path = dataset / "annotations.csv"
    fieldnames, rows = read_rows(csv_path)
    columns = coarse_columns(fieldnames)
    chosen = {}
    for row in rows:
        chosen.setdefault(row["split"], row)

    def row_for(template, annotator, presence):
        row = dict(template, annotator_id=str(annotator))
        row.update(
            {column: str(value) for column, value in zip(columns, presence)}
        )
        return row

    train, valid, test = chosen["train"], chosen["validate"], chosen["test"]
    handmade = [
        row_for(train, 11, [1, 0, -1, 0, 0, 0, 0, -1]),
        row_for(train, 12, [0, 0, -1, 1, 0, 0, 0, -1]),
        row_for(
            train, -2, [0, 1, 1, 0, 1, 1, 1, 1]
        ),  # team member: not used for train
        row_for(
            train, 0, [0, 1, 1, 0, 1, 1, 1, 1]
        ),  # verified: not used for train
        row_for(valid, 13, [1, 1, 1, 1, 1, 1, 1, 1]),
        row_for(valid, -1, [1, 1, 1, 1, 1, 1, 1, 1]),
        row_for(valid, 0, [0, 1, -1, 0, 0, 0, 0, 1]),
        row_for(test, 14, [1, 1, 1, 1, 1, 1, 1, 1]),
        row_for(test, 0, [-1, 0, 0, 0, 0, 0, 1, 0]),
    ]
    replaced = {
        train["audio_filename"],
        valid["audio_filename"],
        test["audio_filename"],
    }
    write_rows(
        csv_path,
        fieldnames,
        [row for row in rows if row["audio_filename"] not in replaced]
        + handmade,
    )

    result = prepare_sonyc_ust(str(dataset), str(tmp_path / "save"))
    classes = result["classes"]
    entry = load(result["train"])[train["audio_filename"][:-4]]
    assert entry["targets"] == [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    assert entry["target_mask"] == [1, 1, 0, 1, 1, 1, 1, 0]
    assert entry["labels"] == [classes[0], classes[3]]
    entry = load(result["valid"])[valid["audio_filename"][:-4]]
    assert entry["targets"] == [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    assert entry["target_mask"] == [1, 1, 0, 1, 1, 1, 1, 1]
    entry = load(result["test"])[test["audio_filename"][:-4]]
    assert entry["targets"] == [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert entry["target_mask"] == [0, 1, 1, 1, 1, 1, 1, 1]
    assert entry["labels"] == [classes[6]]


def test_columns_are_selected_by_name(generated, dataset, tmp_path):
    reference = prepare_sonyc_ust(
        str(generated[0]), str(tmp_path / "reference")
    )
    csv_path = dataset / "annotations.csv"
    fieldnames, rows = read_rows(csv_path)
    write_rows(
        csv_path, list(reversed(fieldnames)), rows
    )  # coarse columns first, in reverse order
    result = prepare_sonyc_ust(str(dataset), str(tmp_path / "save"))
    assert result["classes"] == list(reversed(reference["classes"]))
    for split in ("train", "valid", "test"):
        want, got = load(reference[split]), load(result[split])
        assert set(want) == set(got)
        for clip_id in want:
            named = lambda entry, key, classes: dict(zip(classes, entry[key]))  # noqa: E731
            for key in ("targets", "target_mask"):
                assert named(got[clip_id], key, result["classes"]) == named(
                    want[clip_id], key, reference["classes"]
                )
            assert sorted(got[clip_id]["labels"]) == sorted(
                want[clip_id]["labels"]
            )


def test_v1_layout_uses_validate_as_test(generated_v1, tmp_path, caplog):
    root, summary = generated_v1
    assert not (root / "audio-0").exists() and (root / "validate").is_dir()
    with caplog.at_level(
        logging.WARNING, logger="interpretability.data.sonyc_ust"
    ):
        result = prepare_sonyc_ust(str(root), str(tmp_path / "save"))
    assert any(
        "used as the test set" in record.getMessage()
        for record in caplog.records
    )
    assert load(result["test"]) == load(result["valid"])
    _, rows = read_rows(root / "annotations.csv")
    assert set(load(result["valid"])) == {
        r["audio_filename"][:-4] for r in rows if r["split"] == "validate"
    }
    for split, folder in (("train", "train"), ("valid", "validate")):
        for entry in load(result[split]).values():
            assert os.path.dirname(entry["wav"]) == os.path.join(
                str(root), folder
            )
    assert result["classes"] == summary["classes"]


def test_skip_when_options_match_and_rerun_when_they_change(
    generated, tmp_path
):
    root = str(generated[0])
    save = tmp_path / "save"
    prepare_sonyc_ust(root, str(save))
    for name in OUTPUTS:
        os.utime(save / name, (1_000_000, 1_000_000))
    prepare_sonyc_ust(root, str(save))
    assert all(os.stat(save / name).st_mtime == 1_000_000 for name in OUTPUTS)
    result = prepare_sonyc_ust(
        root, str(save), valid_split="test", test_split="validate"
    )
    assert all(os.stat(save / name).st_mtime != 1_000_000 for name in OUTPUTS)
    assert {entry["split"] for entry in load(result["valid"]).values()} == {
        "test"
    }


def test_missing_data_folder_metadata_and_column(dataset, tmp_path):
    with pytest.raises(DataError, match="nowhere: data folder not found"):
        prepare_sonyc_ust(str(tmp_path / "nowhere"), str(tmp_path / "save"))
    csv_path = dataset / "annotations.csv"
    fieldnames, rows = read_rows(csv_path)
    fieldnames.remove("annotator_id")
    write_rows(
        csv_path,
        fieldnames,
        [{k: v for k, v in r.items() if k != "annotator_id"} for r in rows],
    )
    with pytest.raises(DataError) as info:
        prepare_sonyc_ust(str(dataset), str(tmp_path / "save"))
    assert str(csv_path) in str(info.value) and "'annotator_id' missing" in str(
        info.value
    )
    os.remove(csv_path)
    with pytest.raises(
        DataError, match="annotations.csv: metadata file not found"
    ):
        prepare_sonyc_ust(str(dataset), str(tmp_path / "save"))
    assert not (tmp_path / "save").exists()


def test_presence_value_outside_minus_one_zero_one(dataset, tmp_path):
    csv_path = dataset / "annotations.csv"
    fieldnames, rows = read_rows(csv_path)
    column = coarse_columns(fieldnames)[2]
    rows[4][column] = "7"
    write_rows(csv_path, fieldnames, rows)
    with pytest.raises(DataError) as info:
        prepare_sonyc_ust(str(dataset), str(tmp_path / "save"))
    message = str(info.value)
    assert (
        str(csv_path) in message
        and "line 6" in message
        and "'7'" in message
        and column in message
    )


def test_validate_clip_without_annotator_0_row(dataset, tmp_path):
    csv_path = dataset / "annotations.csv"
    fieldnames, rows = read_rows(csv_path)
    victim = next(row for row in rows if row["split"] == "validate")[
        "audio_filename"
    ]
    kept = [
        row
        for row in rows
        if not (row["audio_filename"] == victim and row["annotator_id"] == "0")
    ]
    write_rows(csv_path, fieldnames, kept)
    with pytest.raises(DataError) as info:
        prepare_sonyc_ust(str(dataset), str(tmp_path / "save"))
    message = str(info.value)
    assert (
        str(csv_path) in message
        and victim in message
        and "annotator_id 0" in message
    )


def test_missing_and_unreadable_audio(dataset, tmp_path):
    csv_path = dataset / "annotations.csv"
    _, rows = read_rows(csv_path)
    shards = sorted(p for p in dataset.iterdir() if p.name.startswith("audio-"))
    garbage = next(shards[0].iterdir())
    garbage.write_bytes(b"RIFF....not really a wave" * 8)
    with pytest.raises(AudioError) as info:
        prepare_sonyc_ust(str(dataset), str(tmp_path / "save"))
    assert str(garbage) in str(info.value) and "unreadable" in str(info.value)
    missing = next(shards[-1].iterdir())
    os.remove(missing)
    line = 2 + next(
        i for i, row in enumerate(rows) if row["audio_filename"] == missing.name
    )
    with pytest.raises(DataError) as info:
        prepare_sonyc_ust(
            str(dataset), str(tmp_path / "save"), check_audio=False
        )
    message = str(info.value)
    assert (
        f"annotations.csv, line {line}" in message
        and missing.name in message
        and "not found" in message
    )


def test_failed_reprepare_leaves_manifests_untouched(dataset, tmp_path):
    save = tmp_path / "save"
    prepare_sonyc_ust(str(dataset), str(save))
    before = snapshot(save)
    csv_path = dataset / "annotations.csv"
    fieldnames, rows = read_rows(csv_path)
    rows[-1][coarse_columns(fieldnames)[0]] = ""
    write_rows(csv_path, fieldnames, rows)
    with pytest.raises(DataError, match=f"line {len(rows) + 1}: empty cell"):
        prepare_sonyc_ust(
            str(dataset), str(save), valid_split="test", test_split="validate"
        )
    assert snapshot(save) == before
    assert sorted(os.listdir(save)) == sorted(OUTPUTS)
