"""The synthetic set must not let a classifier name the class from the level of a clip or of its background.

A peak normalisation made clips of impulsive classes (clicks, impacts) 10-17 dB quieter than tonal ones,
background included: level-only features then named the class 29 % of the time (chance 10 %), and the background
outside the event carried class evidence. Levels are now drawn by loudness, from one distribution for every class.
"""

import math

import numpy as np
import pytest
import soundfile as sf
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from interpretability.data import synthetic


def _db(value):
    return 20 * math.log10(max(float(value), 1e-12))


@pytest.fixture(scope="module")
def demo_set(tmp_path_factory):
    """The demo's default set: 10 classes x 40 clips x 2 s, seed 0; per clip its level features and class."""
    out = tmp_path_factory.mktemp("levels")
    synthetic.generate_dataset(
        out,
        layout="esc50",
        clips_per_class=40,
        duration=2.0,
        n_classes=10,
        seed=0,
        show_progress=False,
    )
    rows = [
        line.split(",")
        for line in (out / "meta" / "esc50.csv").read_text().splitlines()[1:]
    ]
    features, labels = [], []
    for row in rows:
        mixture, _ = sf.read(out / "audio" / row[0])
        clean, _ = sf.read(out / "audio_clean" / row[0])
        background = (
            mixture - clean
        )  # background noise and distractor: everything outside the target event
        features.append(
            [
                _db(np.sqrt(np.mean(mixture**2))),
                _db(np.sqrt(np.mean(background**2))),
                _db(np.abs(background).max()),
                _db(np.abs(mixture).max()),
            ]
        )
        labels.append(int(row[2]))
    return np.array(features), np.array(labels)


def _cross_validated_accuracy(features, labels):
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return cross_val_score(
        model,
        features,
        labels,
        cv=StratifiedKFold(5, shuffle=True, random_state=0),
    ).mean()


def test_level_of_the_clip_and_of_its_background_does_not_name_the_class(
    demo_set,
):
    features, labels = demo_set
    chance = 1 / len(set(labels))
    # clip RMS, background RMS, background peak (dB)
    assert _cross_validated_accuracy(features[:, :3], labels) <= chance + 0.04
    means = np.array(
        [features[labels == k].mean(axis=0) for k in sorted(set(labels))]
    )
    assert np.ptp(means[:, 0]) < 1.0  # per-class mean clip RMS within 1 dB
    assert (
        np.ptp(means[:, 1]) < 1.5
    )  # per-class mean background RMS (distractors vary by chance)


def test_levels_span_the_range_and_nothing_clips(demo_set):
    features, labels = demo_set
    low, high = synthetic.LEVEL_DBFS_RANGE
    for k in sorted(set(labels)):
        levels = features[labels == k, 0]
        # stratified: each class covers the whole range evenly
        assert levels.min() < low + 1.0 and levels.max() > high - 1.0
    assert features[:, 3].max() <= _db(synthetic.MAX_PEAK) + 0.01


def test_the_mixture_peak_is_the_events_own_crest_factor(demo_set):
    """What the mixture's peak still tells is the crest factor of impulsive events, which lies inside the event
    (its oracle mask), not in the background (whose peak names no class, first test): the peak minus the clip
    level of the clicks and impacts is far above that of the tonal classes. A logistic regression on clip RMS,
    background RMS and mixture peak therefore finds those two classes (README: 29 %)."""
    features, labels = demo_set
    crest = features[:, 3] - features[:, 0]
    classes = synthetic.CLASSES[:10]
    impulsive = [classes.index("click_train"), classes.index("impact")]
    tonal = [
        classes.index(name) for name in ("pure_tone", "rising_chirp", "fm_tone")
    ]
    assert (
        min(crest[labels == k].mean() for k in impulsive)
        > max(crest[labels == k].mean() for k in tonal) + 6
    )
    with_peak = _cross_validated_accuracy(features[:, [0, 1, 3]], labels)
    assert 0.2 < with_peak < 0.35
