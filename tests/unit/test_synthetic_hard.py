"""The hard synthetic variant (``variant="hard"``): sounds that fill the clip, band-limited clips, unequal class
sizes, few clips per class; levels, SNRs and band limits that do not name the class; the default set unchanged."""

import csv
import hashlib
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from interpretability.data import synthetic
from interpretability.data.synthetic import HARD_CLASSES, generate_dataset

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
STATIONARY = ("engine", "machinery", "wind", "crowd", "rain", "hum")

# Digests of small default sets, recorded before the hard variant was added (commit dc4635c, numpy 2.4): the
# default path must write the very same bytes.
DEFAULT_DIGESTS = {
    "esc50": (
        "ea12ba09fb464d0d786a5e0399b623157ca9f5544adba6cfaa1f469f403af1f4",
        dict(clips_per_class=2),
    ),
    "us8k": (
        "7cd74d8fe1fe22cdbe45b4a95db13615c2dfa6b2a176439e1aa72d57efde7ffa",
        dict(clips_per_class=1),
    ),
    "sonyc": (
        "f477bde02b4895ec83d7371497a92089fce898b9c06990039cab71de13dcc62b",
        dict(clips_per_class=1),
    ),
}


def _digest(root):
    """One sha256 over every file's relative path and content, in a fixed order."""
    digest = hashlib.sha256()
    for folder, folders, names in sorted(os.walk(root)):
        folders.sort()
        for name in sorted(names):
            path = os.path.join(folder, name)
            digest.update(os.path.relpath(path, root).encode() + b"\0")
            with open(path, "rb") as handle:
                digest.update(hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _db(value):
    return 20 * math.log10(max(float(value), 1e-12))


def _share_above(wave, rate, frequency):
    power = np.abs(np.fft.rfft(wave)) ** 2
    return (
        power[np.fft.rfftfreq(len(wave), 1.0 / rate) > frequency].sum()
        / power.sum()
    )


@pytest.fixture(scope="module")
def hard_set(tmp_path_factory):
    """10 classes, 200 clips of 1 s (the first class 100 of them), seed 0; per clip its rows and audio."""
    out = tmp_path_factory.mktemp("hard")
    summary = generate_dataset(
        out,
        variant="hard",
        clips_per_class=20,
        duration=1.0,
        n_classes=10,
        seed=0,
        show_progress=False,
    )
    meta = {
        row["filename"]: row for row in _read_csv(out / "meta" / "esc50.csv")
    }
    clips = {
        row["filename"]: row for row in _read_csv(out / "meta" / "clips.csv")
    }
    events = {
        row["filename"]: row for row in _read_csv(out / "meta" / "events.csv")
    }
    audio = {
        name: (
            sf.read(out / "audio" / name)[0],
            sf.read(out / "audio_clean" / name)[0],
        )
        for name in meta
    }
    return summary, meta, clips, events, audio


def test_the_default_set_is_unchanged(tmp_path):
    for layout, (expected, sizes) in DEFAULT_DIGESTS.items():
        out = tmp_path / layout
        generate_dataset(
            out,
            layout=layout,
            duration=0.5,
            seed=3,
            show_progress=False,
            **sizes,
        )
        assert _digest(out) == expected, (
            f"the default {layout} set is no longer byte-identical"
        )


def test_class_counts_by_hand():
    assert synthetic.class_counts(10, [1, 1, 2], minimum=1) == [
        3,
        2,
        5,
    ]  # ideal 2.5, 2.5, 5; ties to the first
    assert synthetic.class_counts(18, [1, 1, 2], minimum=5) == [
        5,
        5,
        8,
    ]  # the floor first, the rest by share
    weights = synthetic.hard_class_weights(
        4
    )  # others 1, 2^-0.5, 3^-0.5; the first as much as all of them
    assert weights[1:] == pytest.approx([1.0, 2**-0.5, 3**-0.5])
    assert weights[0] == pytest.approx(sum(weights[1:]))


def test_unequal_class_sizes_every_class_in_every_fold(hard_set):
    summary, meta, _, _, _ = hard_set
    assert (
        summary["variant"] == "hard"
        and summary["classes"] == HARD_CLASSES
        and summary["n_clips"] == 200
    )
    counts = [
        sum(row["target"] == str(k) for row in meta.values()) for k in range(10)
    ]
    assert (
        counts
        == summary["class_counts"]
        == synthetic.class_counts(200, synthetic.hard_class_weights(10))
    )
    assert counts[0] == 100  # the first class is half the set
    assert (
        counts[1] > counts[2] > counts[3]
        and min(counts) >= synthetic.HARD_MIN_CLIPS
    )
    for k in range(10):
        assert {
            row["fold"] for row in meta.values() if row["target"] == str(k)
        } == {"1", "2", "3", "4", "5"}
        assert all(
            row["category"] == HARD_CLASSES[k]
            for row in meta.values()
            if row["target"] == str(k)
        )


def test_events_fill_the_clip(hard_set):
    _, meta, _, events, audio = hard_set
    shares = {
        name: float(event["offset_s"]) - float(event["onset_s"])
        for name, event in events.items()
    }
    assert set(shares) == set(meta)
    assert np.mean(list(shares.values())) > 0.8
    for name, event in events.items():
        category = event["category"]
        low = synthetic.HARD_CLASS_SPECS[category]["duration"][0]
        assert shares[name] >= low - 1e-3
        if (
            category in STATIONARY
        ):  # and stay on: every 50 ms frame of the event within 12 dB of its median
            _, clean = audio[name]
            start, stop = (
                int(round(float(event["onset_s"]) * 16000)),
                int(round(float(event["offset_s"]) * 16000)),
            )
            frames = clean[start + 400 : stop - 400][
                : (stop - start - 800) // 800 * 800
            ].reshape(-1, 800)
            energy = 10 * np.log10(np.mean(frames**2, axis=1))
            assert energy.min() > np.median(energy) - 12, (
                name,
                category,
                energy.min() - np.median(energy),
            )


def test_band_limited_clips(hard_set):
    _, meta, clips, events, audio = hard_set
    limited = {
        name for name, row in clips.items() if float(row["band_limit_hz"]) > 0
    }
    for k, category in enumerate(
        HARD_CLASSES
    ):  # stratified: every class the same share, within one clip
        names = [name for name, row in meta.items() if row["target"] == str(k)]
        share = synthetic.HARD_BAND_LIMIT_SHARE * len(names)
        assert abs(sum(name in limited for name in names) - share) < 1, category
    above_full = []
    for name, row in clips.items():
        mixture, clean = audio[name]
        if name in limited:
            cutoff = float(row["band_limit_hz"])
            assert (
                synthetic.HARD_BAND_LIMIT_HZ[0]
                <= cutoff
                <= synthetic.HARD_BAND_LIMIT_HZ[1]
            )
            assert (
                _share_above(mixture, 16000, cutoff * 1.02) < 1e-4
            )  # 16-bit rounding only
            assert _share_above(clean, 16000, cutoff * 1.02) < 1e-4
            assert float(events[name]["f_high_hz"]) <= cutoff
        else:
            above_full.append(_share_above(mixture, 16000, 4500))
    assert (
        np.median(above_full) > 0.01
    )  # the full-band clips do have content up there


def test_levels_snr_and_band_limit_do_not_name_the_class(hard_set):
    _, meta, clips, _, audio = hard_set
    names = sorted(meta)
    labels = np.array([int(meta[name]["target"]) for name in names])
    features = []
    for name in names:
        mixture, clean = audio[name]
        background = mixture - clean
        features.append(
            [
                _db(np.sqrt(np.mean(mixture**2))),
                _db(np.sqrt(np.mean(background**2))),
                _db(np.abs(background).max()),
                float(clips[name]["snr_db"]),
            ]
        )
    features = np.array(features)
    low, high = synthetic.HARD_LEVEL_DBFS_RANGE
    snr_low, snr_high = synthetic.HARD_SNR_DB_RANGE
    for k in range(10):
        levels, snrs = features[labels == k, 0], features[labels == k, 3]
        assert (
            abs(levels.mean() - (low + high) / 2) < 1.0
        )  # stratified: every class centred on the range
        assert abs(snrs.mean() - (snr_low + snr_high) / 2) < 1.0
        assert (
            levels.min() < low + (high - low) / 4
            and levels.max() > high - (high - low) / 4
        )
    model = make_pipeline(
        StandardScaler(),
        LogisticRegression(max_iter=2000, class_weight="balanced"),
    )
    balanced = cross_val_score(
        model,
        features[:, :3],
        labels,
        scoring="balanced_accuracy",
        cv=StratifiedKFold(5, shuffle=True, random_state=0),
    ).mean()
    assert balanced < 0.1 + 0.08  # chance is 0.1


def test_ground_truth_and_snr(tmp_path):
    """Clean audio is the target alone, zero outside its event; with no distractor the SNR over the clip is the
    one clips.csv records, band-limited clips included."""
    generate_dataset(
        tmp_path,
        variant="hard",
        clips_per_class=6,
        duration=0.5,
        n_classes=10,
        seed=4,
        distractor_prob=0.0,
        show_progress=False,
    )
    clips = {
        row["filename"]: row
        for row in _read_csv(tmp_path / "meta" / "clips.csv")
    }
    events = _read_csv(tmp_path / "meta" / "events.csv")
    assert (
        _read_csv(tmp_path / "meta" / "distractors.csv") == []
        and len(events) == len(clips) == 60
    )
    assert any(float(row["band_limit_hz"]) > 0 for row in clips.values())
    for event in events:
        mixture, rate = sf.read(tmp_path / "audio" / event["filename"])
        clean, _ = sf.read(tmp_path / "audio_clean" / event["filename"])
        start, stop = (
            int(round(float(event["onset_s"]) * rate)),
            int(round(float(event["offset_s"]) * rate)),
        )
        inside = np.sum(clean[start:stop] ** 2)
        assert (
            inside > 0
            and np.sum(clean[:start] ** 2) + np.sum(clean[stop:] ** 2)
            <= 1e-9 * inside
        )
        snr = 10 * math.log10(np.sum(clean**2) / np.sum((mixture - clean) ** 2))
        assert abs(snr - float(clips[event["filename"]]["snr_db"])) < 0.05, (
            event
        )
        assert (
            abs(
                _db(np.sqrt(np.mean(mixture**2)))
                - float(clips[event["filename"]]["level_dbfs"])
            )
            < 0.05
        )
        assert np.abs(mixture).max() <= synthetic.MAX_PEAK + 1e-4


def test_every_family_is_made_with_and_without_band_limit():
    for name in HARD_CLASSES:
        for k in range(4):
            for cutoff in (None, 3600.0):
                event = synthetic.make_hard_event(
                    np.random.default_rng([k]),
                    name,
                    16000,
                    16000,
                    cutoff=cutoff,
                )
                wave = event["wave"]
                assert np.isfinite(wave).all() and np.sqrt(
                    np.mean(wave**2)
                ) == pytest.approx(1.0)
                assert (
                    len(wave)
                    >= synthetic.HARD_CLASS_SPECS[name]["duration"][0] * 16000
                    - 1
                )
                power = np.abs(np.fft.rfft(wave)) ** 2
                freqs = np.fft.rfftfreq(len(wave), 1 / 16000)
                band = (freqs >= event["f_low_hz"]) & (
                    freqs <= event["f_high_hz"]
                )
                assert power[band].sum() > 0.9 * power.sum(), (name, k, cutoff)
                if cutoff:
                    assert (
                        event["f_high_hz"] <= cutoff
                        and power[freqs > cutoff].sum() < 1e-20 * power.sum()
                    )


def test_same_seed_same_bytes_other_seed_other_audio(tmp_path):
    runs = {}
    for name, seed, variant in (
        ("a", 11, "hard"),
        ("b", 11, "hard"),
        ("c", 12, "hard"),
        ("d", 11, "default"),
    ):
        out = tmp_path / name
        generate_dataset(
            out,
            variant=variant,
            n_classes=3,
            clips_per_class=5,
            duration=0.5,
            seed=seed,
            show_progress=False,
        )
        runs[name] = {
            os.path.relpath(os.path.join(folder, f), out): hashlib.sha256(
                open(os.path.join(folder, f), "rb").read()
            ).hexdigest()
            for folder, _, files in os.walk(out)
            for f in files
        }
    assert runs["a"] == runs["b"]
    audio = [path for path in runs["a"] if path.endswith(".wav")]
    assert len(audio) == 30 and all(
        runs["a"][path] != runs["c"].get(path) for path in audio
    )
    assert not set(runs["a"].values()) & set(
        runs["d"].values()
    )  # not the default set's draws


def test_bad_arguments(tmp_path):
    for kwargs in (
        {"variant": "harder"},
        {"layout": "us8k"},
        {"layout": "sonyc"},
        {"sample_rate": 8000},
        {"n_classes": len(HARD_CLASSES) + 1},
        {"clips_per_class": synthetic.HARD_MIN_CLIPS - 1},
        {"class_weights": [1.0, 2.0]},
        {"n_classes": 2, "class_weights": [1.0, -1.0]},
    ):
        with pytest.raises(ValueError):
            generate_dataset(
                tmp_path, show_progress=False, **{"variant": "hard", **kwargs}
            )
    with pytest.raises(ValueError, match="class_weights"):
        generate_dataset(
            tmp_path, show_progress=False, class_weights=[1.0] * 10
        )


def test_command_line(tmp_path):
    command = [
        sys.executable,
        "-m",
        "interpretability.data.synthetic",
        "--variant",
        "hard",
        "--out",
        str(tmp_path / "set"),
        "--clips_per_class",
        "6",
        "--duration",
        "0.5",
        "--n_classes",
        "3",
        "--class_weights",
        "1,1,2",
        "--no_progress",
    ]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert '"class_counts": [5, 5, 8]' in result.stderr
    targets = [
        row["target"]
        for row in _read_csv(tmp_path / "set" / "meta" / "esc50.csv")
    ]
    assert [targets.count(str(k)) for k in range(3)] == [5, 5, 8]
    bad = subprocess.run(
        command[:-2] + ["1,x,2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (
        bad.returncode == 2
        and "class_weights" in bad.stderr
        and "Traceback" not in bad.stderr
    )
