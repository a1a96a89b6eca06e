"""The synthetic set generator: layouts, determinism, and the ground truth's consistency with the audio."""

import csv
import hashlib
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import yaml

from interpretability.data import synthetic
from interpretability.data.synthetic import CLASSES, generate_dataset

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
COARSE_RE = re.compile(r"^(\d+)_([^_]+)_presence$")
FINE_RE = re.compile(r"^(\d+)-([0-9]+|X)_([^_]+)_(presence|proximity)$")


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return header, [dict(zip(header, row)) for row in reader]


def _hashes(root):
    digests = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as handle:
                digests[os.path.relpath(path, root)] = hashlib.sha256(
                    handle.read()
                ).hexdigest()
    return digests


def _mono(path):
    data, rate = sf.read(path, dtype="float64", always_2d=True)
    return data.mean(axis=1), rate


def _band_share(wave, rate, f_low, f_high):
    power = np.abs(np.fft.rfft(wave)) ** 2
    freqs = np.fft.rfftfreq(len(wave), 1.0 / rate)
    return power[(freqs >= f_low) & (freqs <= f_high)].sum() / power.sum()


@pytest.fixture(scope="module")
def esc50(tmp_path_factory):
    out = tmp_path_factory.mktemp("esc50")
    summary = generate_dataset(
        out,
        layout="esc50",
        clips_per_class=3,
        duration=1.0,
        seed=3,
        show_progress=False,
    )
    return out, summary


@pytest.fixture(scope="module")
def us8k(tmp_path_factory):
    out = tmp_path_factory.mktemp("us8k")
    summary = generate_dataset(
        out,
        layout="us8k",
        clips_per_class=3,
        duration=1.0,
        seed=5,
        show_progress=False,
    )
    return out, summary


@pytest.fixture(scope="module")
def sonyc(tmp_path_factory):
    out = tmp_path_factory.mktemp("sonyc")
    summary = generate_dataset(
        out,
        layout="sonyc",
        clips_per_class=4,
        duration=1.0,
        seed=7,
        show_progress=False,
    )
    return out, summary


def test_class_list():
    assert len(CLASSES) >= 12 and len(set(CLASSES)) == len(CLASSES)
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", name) for name in CLASSES)
    assert set(synthetic.CLASS_SPECS) == set(CLASSES)


def test_esc50_layout(esc50):
    out, summary = esc50
    assert (
        summary["layout"] == "esc50"
        and summary["n_clips"] == 30
        and summary["classes"] == CLASSES[:10]
    )
    assert summary["out_dir"] == str(out) and summary["seconds"] > 0
    header, rows = _read_csv(out / "meta" / "esc50.csv")
    assert header == [
        "filename",
        "fold",
        "target",
        "category",
        "esc10",
        "src_file",
        "take",
    ]
    assert len(rows) == 30 and len({row["filename"] for row in rows}) == 30
    for row in rows:
        fold, clip_id, take, target = re.fullmatch(
            r"(\d)-(\d+)-([A-Z])-(\d+)\.wav", row["filename"]
        ).groups()
        assert (row["fold"], row["src_file"], row["take"], row["target"]) == (
            fold,
            clip_id,
            take,
            target,
        )
        assert 1 <= int(fold) <= 5 and take == "A" and row["esc10"] == "False"
        assert row["category"] == CLASSES[int(target)]
        assert (out / "audio" / row["filename"]).is_file() and (
            out / "audio_clean" / row["filename"]
        ).is_file()
    for target in range(10):  # each class's clips go to different folds
        folds = [row["fold"] for row in rows if row["target"] == str(target)]
        assert len(set(folds)) == 3
    assert {row["fold"] for row in rows} == {"1", "2", "3", "4", "5"}
    assert len(os.listdir(out / "audio")) == 30
    header, events = _read_csv(out / "meta" / "events.csv")
    assert header == [
        "filename",
        "category",
        "onset_s",
        "offset_s",
        "f_low_hz",
        "f_high_hz",
    ]
    assert sorted(event["filename"] for event in events) == sorted(
        row["filename"] for row in rows
    )
    categories = {row["filename"]: row["category"] for row in rows}
    assert all(
        event["category"] == categories[event["filename"]] for event in events
    )


def test_esc50_audio_and_ground_truth(esc50):
    out, _ = esc50
    _, events = _read_csv(out / "meta" / "events.csv")
    _, distractors = _read_csv(out / "meta" / "distractors.csv")
    assert 0 < len(distractors) < len(events)  # about half the clips
    for event in events:
        mixture, rate = _mono(out / "audio" / event["filename"])
        clean, clean_rate = _mono(out / "audio_clean" / event["filename"])
        assert (
            rate == clean_rate == 16000 and len(mixture) == len(clean) == 16000
        )
        level = 20 * math.log10(np.sqrt(np.mean(mixture**2)))
        assert (
            synthetic.LEVEL_DBFS_RANGE[0] - 0.1
            <= level
            <= synthetic.LEVEL_DBFS_RANGE[1] + 0.1
        )  # by loudness
        assert (
            np.max(np.abs(mixture)) <= synthetic.MAX_PEAK + 1e-4
        )  # nothing clips
        onset, offset = float(event["onset_s"]), float(event["offset_s"])
        assert 0 <= onset < offset <= 1.0
        start, stop = int(round(onset * rate)), int(round(offset * rate))
        inside = np.sum(clean[start:stop] ** 2)
        assert (
            inside > 0
            and np.sum(clean[:start] ** 2) + np.sum(clean[stop:] ** 2)
            <= 1e-9 * inside
        )
        residual = (
            mixture - clean
        )  # background (+ distractor) fills the whole clip
        assert np.sum(residual[:start] ** 2) + np.sum(residual[stop:] ** 2) > 0
        if event["category"] in (
            "pure_tone",
            "rising_chirp",
            "noise_burst",
            "harmonic_stack",
            "click_train",
            "fm_tone",
        ):
            share = _band_share(
                clean[start:stop],
                rate,
                float(event["f_low_hz"]),
                float(event["f_high_hz"]),
            )
            assert share > 0.9, (event, share)
            assert (
                _band_share(
                    residual,
                    rate,
                    float(event["f_low_hz"]),
                    float(event["f_high_hz"]),
                )
                < share
            )


def test_event_bands_every_class():
    for name in CLASSES:
        for k in range(6):
            event = synthetic.make_event(
                np.random.default_rng([k]), name, 16000, 16000
            )
            share = _band_share(
                event["wave"], 16000, event["f_low_hz"], event["f_high_hz"]
            )
            assert share > 0.85, (name, k, share)
            assert 0 <= event["f_low_hz"] < event["f_high_hz"] <= 8000
            assert event["wave"][0] == 0 and abs(event["wave"][-1]) < 1e-12


def test_snr_matches_the_drawn_level(tmp_path):
    """With no distractor, the target's energy over the clip against the residual's is the SNR drawn."""
    generate_dataset(
        tmp_path,
        clips_per_class=1,
        duration=1.0,
        seed=1,
        show_progress=False,
        snr_db_range=(10.0, 10.0),
        distractor_prob=0.0,
    )
    _, events = _read_csv(tmp_path / "meta" / "events.csv")
    _, distractors = _read_csv(tmp_path / "meta" / "distractors.csv")
    assert distractors == []
    for event in events:
        mixture, rate = _mono(tmp_path / "audio" / event["filename"])
        clean, _ = _mono(tmp_path / "audio_clean" / event["filename"])
        snr = 10 * math.log10(np.sum(clean**2) / np.sum((mixture - clean) ** 2))
        assert abs(snr - 10.0) < 0.05, (event["category"], snr)


def test_distractor_is_quieter_and_of_another_class(tmp_path):
    generate_dataset(
        tmp_path,
        clips_per_class=1,
        duration=1.0,
        seed=2,
        show_progress=False,
        distractor_prob=1.0,
        snr_db_range=(12.0, 12.0),
        distractor_db_below=(8.0, 8.0),
    )
    _, events = _read_csv(tmp_path / "meta" / "events.csv")
    _, distractors = _read_csv(tmp_path / "meta" / "distractors.csv")
    assert len(distractors) == len(events) == 10
    targets = {event["filename"]: event["category"] for event in events}
    for distractor in distractors:
        assert distractor["category"] != targets[distractor["filename"]]
        assert distractor["category"] in CLASSES[:10]


def test_same_seed_same_bytes_other_seed_other_audio(tmp_path):
    for layout in ("esc50", "us8k", "sonyc"):
        runs = []
        for name, seed in (("a", 11), ("b", 11), ("c", 12)):
            out = tmp_path / f"{layout}-{name}"
            generate_dataset(
                out,
                layout=layout,
                clips_per_class=1,
                duration=0.5,
                seed=seed,
                show_progress=False,
            )
            runs.append(_hashes(out))
        assert runs[0] == runs[1] and len(runs[0]) > 10
        audio = [path for path in runs[0] if path.endswith(".wav")]
        assert audio
        if layout == "esc50":  # same names, other samples
            assert all(runs[0][path] != runs[2].get(path) for path in audio)
        else:
            assert set(runs[0].items()).isdisjoint(
                [(p, h) for p, h in runs[2].items() if p.endswith(".wav")]
            )


def test_us8k_layout_and_varied_formats(us8k):
    out, summary = us8k
    assert summary["n_clips"] == 30
    header, rows = _read_csv(out / "metadata" / "UrbanSound8K.csv")
    assert header == [
        "slice_file_name",
        "fsID",
        "start",
        "end",
        "salience",
        "fold",
        "classID",
        "class",
    ]
    assert len(rows) == 30 and {row["fold"] for row in rows} == {
        str(k) for k in range(1, 11)
    }
    rates, channels, subtypes, durations = set(), set(), set(), []
    for row in rows:
        fs_id, class_id, _, _ = re.fullmatch(
            r"(\d+)-(\d+)-(\d+)-(\d+)\.wav", row["slice_file_name"]
        ).groups()
        assert (
            fs_id == row["fsID"]
            and class_id == row["classID"]
            and row["class"] == CLASSES[int(class_id)]
        )
        assert row["salience"] in ("1", "2")
        path = out / "audio" / f"fold{row['fold']}" / row["slice_file_name"]
        info = sf.info(str(path))
        clean_info = sf.info(
            str(
                out
                / "audio_clean"
                / f"fold{row['fold']}"
                / row["slice_file_name"]
            )
        )
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (
            clean_info.samplerate,
            clean_info.channels,
            clean_info.frames,
            clean_info.subtype,
        )
        assert (
            abs(
                float(row["end"])
                - float(row["start"])
                - info.frames / info.samplerate
            )
            < 1e-5
        )
        rates.add(info.samplerate)
        channels.add(info.channels)
        subtypes.add(info.subtype)
        durations.append(info.frames / info.samplerate)
    assert len(rates) >= 3 and channels == {1, 2} and len(subtypes) >= 2
    assert min(durations) < 0.95 and max(durations) == pytest.approx(1.0)
    _, events = _read_csv(out / "meta" / "events.csv")
    assert sorted(event["filename"] for event in events) == sorted(
        f"fold{row['fold']}/{row['slice_file_name']}" for row in rows
    )
    for event in events:
        clean, rate = _mono(out / "audio_clean" / event["filename"])
        start, stop = (
            int(round(float(event["onset_s"]) * rate)),
            int(round(float(event["offset_s"]) * rate)),
        )
        assert stop <= len(clean)
        inside = np.sum(clean[start:stop] ** 2)
        assert (
            inside > 0
            and np.sum(clean[:start] ** 2) + np.sum(clean[stop:] ** 2)
            <= 1e-9 * inside
        )


def test_sonyc_annotations(sonyc):
    out, summary = sonyc
    assert summary["n_clips"] == 32 and len(summary["classes"]) == 8
    header, rows = _read_csv(out / "annotations.csv")
    assert header[:12] == [
        "split",
        "sensor_id",
        "audio_filename",
        "annotator_id",
        "borough",
        "block",
        "latitude",
        "longitude",
        "year",
        "week",
        "day",
        "hour",
    ]
    coarse = [
        (int(m.group(1)), m.group(2)) for m in map(COARSE_RE.match, header) if m
    ]
    assert coarse == [
        (c, CLASSES[c - 1].replace("_", "-")) for c in range(1, 9)
    ]
    assert summary["classes"] == [name for _, name in coarse]
    assert all(
        COARSE_RE.match(column) for column in header[-8:]
    )  # coarse columns come last
    fine = [FINE_RE.match(column) for column in header[12:-8]]
    assert all(fine)
    kinds = [m.group(4) for m in fine]
    assert kinds == sorted(
        kinds, key=["presence", "proximity"].index
    )  # all presence, then all proximity
    fine_presence = [
        column
        for column, m in zip(header[12:-8], fine)
        if m.group(4) == "presence"
    ]
    assert {m.group(1) for m in fine} == {str(c) for c in range(1, 9)}
    assert all(f"{c}-X" in " ".join(fine_presence) for c in range(1, 9))
    with open(out / "dcase-ust-taxonomy.yaml", encoding="utf-8") as handle:
        taxonomy = yaml.safe_load(handle)
    assert taxonomy["coarse"] == dict(coarse)
    assert fine_presence == [
        f"{c}-{f}_{name}_presence"
        for c, names in taxonomy["fine"].items()
        for f, name in names.items()
    ]

    values = {row[column] for row in rows for column in fine_presence}
    assert values == {"-1", "0", "1"}
    proximity = {
        row[column]
        for row in rows
        for column in header
        if column.endswith("_proximity")
    }
    assert (
        proximity <= {"near", "far", "notsure", "-1"}
        and {"near", "far", "-1"} <= proximity
    )
    for row in rows:  # coarse presence is 1 whenever one of its fine classes is
        for c in range(1, 9):
            group = [
                row[column]
                for column in fine_presence
                if column.startswith(f"{c}-")
            ]
            if "1" in group:
                assert row[f"{c}_{dict(coarse)[c]}_presence"] == "1"

    by_clip = {}
    for row in rows:
        by_clip.setdefault((row["split"], row["audio_filename"]), []).append(
            int(row["annotator_id"])
        )
    assert {split for split, _ in by_clip} == {"train", "validate", "test"}
    splits = [split for split, _ in by_clip]
    assert splits.count("train") > splits.count("validate") and splits.count(
        "train"
    ) > splits.count("test")
    for (split, filename), annotators in by_clip.items():
        assert filename.startswith(split + "_")
        assert sum(a > 0 for a in annotators) == 3
        assert annotators.count(0) == (0 if split == "train" else 1)
        assert split != "train" or min(annotators) > 0
    assert any(min(annotators) < 0 for annotators in by_clip.values())

    shards = sorted(
        name for name in os.listdir(out) if name.startswith("audio-")
    )
    assert len(shards) == 4
    assert sorted(
        name for shard in shards for name in os.listdir(out / shard)
    ) == sorted(filename for _, filename in by_clip)

    _, events = _read_csv(out / "meta" / "events.csv")
    per_file = {}
    for event in events:
        per_file.setdefault(event["filename"], []).append(event)
    assert set(per_file) == {filename for _, filename in by_clip}
    assert {len(clip_events) for clip_events in per_file.values()} <= {
        1,
        2,
        3,
    } and len(events) > len(per_file)
    for row in rows:  # the verified row is exactly the events present
        if row["annotator_id"] == "0":
            present = {
                name for c, name in coarse if row[f"{c}_{name}_presence"] == "1"
            }
            assert present == {
                event["category"] for event in per_file[row["audio_filename"]]
            }
    for filename, clip_events in per_file.items():
        assert len({event["category"] for event in clip_events}) == len(
            clip_events
        )
        clean, rate = _mono(out / "audio_clean" / filename)
        active = np.zeros(len(clean), bool)
        for event in clip_events:
            active[
                int(round(float(event["onset_s"]) * rate)) : int(
                    round(float(event["offset_s"]) * rate)
                )
            ] = True
        assert np.sum(clean[~active] ** 2) <= 1e-9 * np.sum(clean[active] ** 2)


def test_sonyc_version_1_layout(tmp_path):
    summary = generate_dataset(
        tmp_path,
        layout="sonyc",
        clips_per_class=2,
        duration=0.5,
        seed=0,
        sonyc_version="1",
        show_progress=False,
    )
    header, rows = _read_csv(tmp_path / "annotations.csv")
    assert (
        header[:4] == ["split", "sensor_id", "audio_filename", "annotator_id"]
        and "borough" not in header
    )
    assert {row["split"] for row in rows} == {"train", "validate"}
    assert not [
        name for name in os.listdir(tmp_path) if name.startswith("audio-")
    ]
    listed = {(row["split"], row["audio_filename"]) for row in rows}
    on_disk = {
        (split, name)
        for split in ("train", "validate")
        for name in os.listdir(tmp_path / split)
    }
    assert listed == on_disk and len(on_disk) == summary["n_clips"] == 16


def test_bad_arguments(tmp_path):
    for kwargs in (
        {"layout": "esc10"},
        {"n_classes": len(CLASSES) + 1},
        {"duration": 0.0},
        {"clips_per_class": 0},
        {"layout": "sonyc", "sonyc_version": "2"},
        {"seed": -1},
    ):
        with pytest.raises(ValueError):
            generate_dataset(tmp_path, show_progress=False, **kwargs)


def test_command_line(tmp_path):
    command = [
        sys.executable,
        "-m",
        "interpretability.data.synthetic",
        "--layout",
        "esc50",
        "--out",
        str(tmp_path / "set"),
        "--clips_per_class",
        "2",
        "--duration",
        "0.5",
        "--seed",
        "4",
        "--sample_rate",
        "8000",
        "--n_classes",
        "4",
    ]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert '"n_clips": 8' in result.stderr
    _, rows = _read_csv(tmp_path / "set" / "meta" / "esc50.csv")
    assert len(rows) == 8
    assert (
        sf.info(
            str(tmp_path / "set" / "audio" / rows[0]["filename"])
        ).samplerate
        == 8000
    )
    bad = subprocess.run(
        command[:-1] + ["40"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (
        bad.returncode == 2
        and "n_classes" in bad.stderr
        and "Traceback" not in bad.stderr
    )
