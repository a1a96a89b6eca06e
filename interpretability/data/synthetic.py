"""The synthetic set: procedurally generated sound events with ground truth, in real datasets' layouts.

Each clip is coloured background noise plus the target event(s) of its class(es) at a random onset,
duration, level and pitch inside class-specific ranges (``CLASS_SPECS``); in part of the clips a quieter
distractor event of another class is added. The clip is written in the on-disk layout of ESC-50,
UrbanSound8K or SONYC-UST (see ``docs/datasets.md``) so the real preparation code reads it
unchanged, together with ground truth no real dataset has:

- ``audio_clean/<name>``: the target event(s) alone, sample-aligned and at the level they have in the mixture
  (SONYC-UST layout, several classes per clip: also ``audio_clean/by_class/<class>/<name>``, each class's event
  alone, the clean source of that class's explanation);
- ``meta/events.csv``: ``filename, category, onset_s, offset_s, f_low_hz, f_high_hz``, one row per target event;
- ``meta/distractors.csv`` (ESC-50 and US8K layouts): the same columns for the distractor events.

Every clip draws from its own generator seeded with ``(seed, layout, clip index)``, so the same arguments
give byte-identical files whatever the order of generation. The difficulty knobs are the module constants
below (``SNR_DB_RANGE``, ``DISTRACTOR_PROB``, ``DISTRACTOR_DB_BELOW``, ``CLASS_SPECS``...), also accepted as
keyword arguments of :func:`generate_dataset`.

The hard variant (``variant="hard"``, ESC-50 layout; ``HARD_CLASSES``, ``HARD_CLASS_SPECS``) is closer to small
real sets: sounds that fill the clip (speech-like syllables, engines, machinery, wind, crowd babble, rain,
air-conditioner hum, melodies, birdsong, sirens), a share of clips band-limited to ~4 kHz, unequal class sizes (the
first class half the set) and few clips per class, with the same class-independent, stratified levels and SNRs.

Command line::

    python -m interpretability.data.synthetic --layout esc50 --out data/synthetic --clips_per_class 40
    python -m interpretability.data.synthetic --variant hard --out data/hard --clips_per_class 12
"""

import argparse
import csv
import functools
import io
import json
import logging
import math
import os
import sys
import time

import numpy as np
import soundfile as sf
from tqdm import tqdm

logger = logging.getLogger(__name__)

CLASSES = [
    "pure_tone",
    "rising_chirp",
    "falling_chirp",
    "noise_burst",
    "click_train",
    "harmonic_stack",
    "am_tone",
    "fm_tone",
    "low_rumble",
    "impact",
    "warble",
    "pulsed_noise",
    "siren",
    "buzz",
]

LAYOUTS = ("esc50", "us8k", "sonyc")
DEFAULT_DURATION_S = {"esc50": 2.0, "us8k": 2.0, "sonyc": 10.0}
# Part of every clip's seed, so the three layouts of one seed do not share signals.
_LAYOUT_STREAM = {"esc50": 50, "us8k": 8732, "sonyc": 23}
_DATASET_STREAM = (
    2**32 - 1
)  # clip indices never reach it: the stream of dataset-level draws

# ---- difficulty knobs -------------------------------------------------------------------------------------
SNR_DB_RANGE = (
    0.0,
    15.0,
)  # target event energy to background energy, both over the whole clip
DISTRACTOR_PROB = (
    0.5  # share of ESC-50 / US8K clips with a distractor event of another class
)
DISTRACTOR_DB_BELOW = (6.0, 12.0)  # distractor level below the target's
LEVEL_DBFS_RANGE = (
    -42.0,
    -32.0,
)  # each mixture is scaled to an RMS level drawn from this range (dB full scale)
BACKGROUND_COLOUR_CONCENTRATION = (
    1.0  # Dirichlet weights of white / pink / brown background noise
)
MIN_EVENT_S = 0.05  # shortest event (unless the clip is shorter)
FADE_S = (
    0.005,
    0.03,
)  # raised-cosine fade in / out of every event (impacts have their own attack)
MAX_PEAK = 0.98  # a mixture whose peak would exceed this at its drawn level is turned down instead of clipped
NYQUIST_SHARE = (
    0.45  # every event stays below this share of the (lowest) sample rate
)
# A tone's band in events.csv is its instantaneous-frequency range widened on both sides by
# max(TONAL_MARGIN_HZ, TONAL_MARGIN_REL * f): the spectral width an enveloped tone really has.
TONAL_MARGIN_HZ = 20.0
TONAL_MARGIN_REL = 0.02

# Class-specific ranges. Durations are shares of the clip length; frequencies in Hz (log-uniform draws),
# rates in Hz. Ranges of different classes overlap on purpose: classes differ in shape, not in band.
CLASS_SPECS = {
    "pure_tone": {
        "duration": (0.3, 0.8),
        "freq": (250.0, 4000.0),
        "fine_split_hz": 1000.0,
    },
    "rising_chirp": {
        "duration": (0.3, 0.8),
        "start_freq": (200.0, 2500.0),
        "sweep_ratio": (2.0, 4.0),
        "fine_split_hz": 1100.0,
    },
    "falling_chirp": {
        "duration": (0.3, 0.8),
        "start_freq": (200.0, 2500.0),
        "sweep_ratio": (2.0, 4.0),
        "fine_split_hz": 1100.0,
    },
    "noise_burst": {
        "duration": (0.3, 0.8),
        "center_freq": (400.0, 5000.0),
        "bandwidth_octaves": (0.4, 2.0),
        "fine_split_hz": 1400.0,
    },
    "click_train": {
        "duration": (0.3, 0.8),
        "rate_hz": (4.0, 30.0),
        "band_low": (150.0, 1000.0),
        "band_high": (2500.0, 7000.0),
        "click_s": 0.008,
        "fine_split_hz": 1300.0,
    },
    "harmonic_stack": {
        "duration": (0.3, 0.8),
        "f0": (100.0, 600.0),
        "n_harmonics": (3, 8),
        "rolloff": (0.5, 1.5),
        "fine_split_hz": 600.0,
    },
    "am_tone": {
        "duration": (0.3, 0.8),
        "freq": (250.0, 4000.0),
        "mod_rate_hz": (4.0, 25.0),
        "mod_depth": (0.8, 1.0),
        "fine_split_hz": 1000.0,
    },
    "fm_tone": {
        "duration": (0.3, 0.8),
        "freq": (250.0, 4000.0),
        "mod_rate_hz": (3.0, 12.0),
        "deviation": (0.06, 0.15),
        "fine_split_hz": 1000.0,
    },
    "low_rumble": {
        "duration": (0.3, 0.8),
        "band_low": (20.0, 40.0),
        "cutoff": (100.0, 400.0),
        "mod_rate_hz": (0.3, 3.0),
        "mod_depth": (0.2, 0.7),
        "fine_split_hz": 90.0,
    },
    "impact": {
        "duration": (0.1, 0.3),
        "decay_share": (0.08, 0.25),
        "band_low": (60.0, 400.0),
        "band_high": (1500.0, 7000.0),
        "n_modes": (1, 3),
        "fade": (0.0005, 0.002),
        "fine_split_hz": 900.0,
    },
    "warble": {
        "duration": (0.3, 0.8),
        "freq": (400.0, 3000.0),
        "ratio": (1.12, 1.6),
        "rate_hz": (3.0, 12.0),
        "fine_split_hz": 1200.0,
    },
    "pulsed_noise": {
        "duration": (0.3, 0.8),
        "center_freq": (400.0, 5000.0),
        "bandwidth_octaves": (0.4, 2.0),
        "rate_hz": (2.0, 8.0),
        "duty": (0.3, 0.7),
        "edge_s": 0.005,
        "fine_split_hz": 1400.0,
    },
    "siren": {
        "duration": (0.4, 0.8),
        "low_freq": (400.0, 1500.0),
        "ratio": (1.4, 2.5),
        "cycles": (1.5, 4.0),
        "fine_split_hz": 1100.0,
    },
    "buzz": {
        "duration": (0.3, 0.8),
        "f0": (60.0, 200.0),
        "top_freq": (1500.0, 5000.0),
        "fine_split_hz": 500.0,
    },
}

# ---- layout details ---------------------------------------------------------------------------------------
ESC50_FOLDS = 5
ESC50_CLIP_ID_BASE = 100000
US8K_FOLDS = 10
US8K_SAMPLE_RATES = (16000, 22050, 44100, 48000)
US8K_CHANNELS = (1, 2)
US8K_SUBTYPES = ("PCM_16", "PCM_24", "FLOAT")
US8K_SHORT_PROB = 0.3  # share of US8K clips shorter than `duration`
US8K_SHORT_SHARE = (0.3, 0.95)  # their length as a share of `duration`
US8K_SLICES_PER_RECORDING = 3
SONYC_N_COARSE = 8
SONYC_EXTRA_EVENTS_PROBS = (0.5, 0.3, 0.2)  # P(1, 2, 3 target events per clip)
SONYC_SPLITS = {
    "2.3": (("train", 0.6), ("validate", 0.2), ("test", 0.2)),
    "1": (("train", 0.75), ("validate", 0.25)),
}
SONYC_CLIPS_PER_SHARD = 8
SONYC_VOLUNTEERS_PER_CLIP = 3
SONYC_N_VOLUNTEERS = 60
SONYC_N_TEAM = 3
SONYC_N_SENSORS = 12
SONYC_TEAM_SHARE = (
    0.1  # share of validate / test clips that also get a team member's row
)
SONYC_MISS_PROB = 0.15  # a volunteer misses a present class
SONYC_FALSE_ALARM_PROB = 0.05  # a volunteer marks an absent class
SONYC_UNCERTAIN_FINE_PROB = (
    0.15  # a volunteer marks the "X" (other / unknown) fine class instead
)
SONYC_GROUP_UNANNOTATED_PROB = (
    0.1  # a volunteer leaves a class's fine columns at -1
)
SONYC_COARSE_UNANNOTATED_PROB = (
    0.02  # ... or the whole class, coarse column included
)
SONYC_TEAM_MISS_PROB = 0.05
SONYC_BOROUGHS = (1, 3, 4)
SONYC_PROXIMITY_NOTSURE_PROB = 0.2

CLEAN_BY_CLASS = "by_class"  # SONYC layout: audio_clean/by_class/<class>/<file> holds each class's events alone
_EVENTS_COLUMNS = [
    "filename",
    "category",
    "onset_s",
    "offset_s",
    "f_low_hz",
    "f_high_hz",
]
_ESC50_COLUMNS = [
    "filename",
    "fold",
    "target",
    "category",
    "esc10",
    "src_file",
    "take",
]
_US8K_COLUMNS = [
    "slice_file_name",
    "fsID",
    "start",
    "end",
    "salience",
    "fold",
    "classID",
    "class",
]
_SONYC_ID_COLUMNS = [
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


# ---- signal helpers ---------------------------------------------------------------------------------------
def _log_uniform(rng, low, high):
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _tonal_band(f_low, f_high):
    """Band of a tone whose instantaneous frequency stays in ``[f_low, f_high]``."""
    low = max(0.0, f_low - max(TONAL_MARGIN_HZ, TONAL_MARGIN_REL * f_low))
    high = f_high + max(TONAL_MARGIN_HZ, TONAL_MARGIN_REL * f_high)
    return low, high


def _phase(freq, sample_rate, rng):
    """Phase ``[samples]`` of an oscillator following the instantaneous frequency ``freq [samples]`` (Hz)."""
    return rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.cumsum(freq) / sample_rate


@functools.lru_cache(maxsize=None)
def _fast_length(n):
    """Smallest 2^a 3^b 5^c >= n: FFT sizes that stay fast whatever the event length."""
    best = 1 << max(0, int(n - 1).bit_length())
    power5 = 1
    while power5 < best:
        power35 = power5
        while power35 < best:
            size = power35
            while size < n:
                size *= 2
            best = min(best, size)
            power35 *= 3
        power5 *= 5
    return best


def _band_noise(rng, n, sample_rate, f_low, f_high):
    """Gaussian noise ``[n]`` with its spectrum cut to ``[f_low, f_high]`` (made at a fast FFT size, cropped)."""
    size = _fast_length(n)
    spectrum = np.fft.rfft(rng.standard_normal(size))
    freqs = np.fft.rfftfreq(size, 1.0 / sample_rate)
    spectrum[(freqs < f_low) | (freqs > f_high)] = 0
    return np.fft.irfft(spectrum, size)[:n]


def _smooth_gate(t, rate, duty, phase, edge_s):
    """Periodic 0/1 gate ``[samples]`` open a ``duty`` share of each period, with ~``edge_s`` smooth edges."""
    cosine = np.cos(2 * np.pi * rate * t + phase)
    threshold = np.cos(np.pi * duty)
    slope = (
        2 * np.pi * rate * max(np.sin(np.pi * duty), 1e-3)
    )  # d cos / dt at the threshold
    gate = np.clip((cosine - threshold) / (slope * edge_s) + 0.5, 0.0, 1.0)
    return gate * gate * (3 - 2 * gate)


def _fade(n, fade_in, fade_out):
    """Envelope ``[n]``: raised-cosine ramps of ``fade_in`` / ``fade_out`` samples, 0 at both ends."""
    envelope = np.ones(n)
    fade_in = max(1, min(fade_in, n // 2))
    fade_out = max(1, min(fade_out, n // 2))
    envelope[:fade_in] = 0.5 - 0.5 * np.cos(
        np.pi * np.arange(fade_in) / fade_in
    )
    envelope[n - fade_out :] = (
        0.5 - 0.5 * np.cos(np.pi * np.arange(fade_out) / fade_out)
    )[::-1]
    return envelope


@functools.lru_cache(maxsize=8)
def _colour_shapes(size, sample_rate):
    """Pink (1/f) and brown (1/f^2) power shapes on the rfft grid of ``size``, mean 1, no DC, floor at 20 Hz."""
    freqs = np.maximum(np.fft.rfftfreq(size, 1.0 / sample_rate), 20.0)
    pink = 1.0 / freqs
    pink[0] = 0
    brown = pink * pink
    return pink / pink.mean(), brown / brown.mean()


def _background(rng, n, sample_rate):
    """Unit-RMS background ``[n]``: white, pink and brown noise mixed with random weights."""
    weights = rng.dirichlet([BACKGROUND_COLOUR_CONCENTRATION] * 3)
    size = _fast_length(n)
    pink, brown = _colour_shapes(size, sample_rate)
    amplitude = np.sqrt(weights[0] + weights[1] * pink + weights[2] * brown)
    amplitude[0] = 0
    spectrum = np.fft.rfft(rng.standard_normal(size)) * amplitude
    noise = np.fft.irfft(spectrum, size)[:n]
    return noise / max(np.sqrt(np.mean(noise * noise)), 1e-12)


# ---- the event classes: each returns (wave [n], f_low_hz, f_high_hz) ---------------------------------------
def _pure_tone(rng, n, sr, fmax, spec):
    freq = min(_log_uniform(rng, *spec["freq"]), fmax)
    return np.sin(_phase(np.full(n, freq), sr, rng)), *_tonal_band(freq, freq)


def _chirp(rng, n, sr, fmax, spec, rising):
    low = _log_uniform(rng, *spec["start_freq"])
    ratio = _log_uniform(rng, *spec["sweep_ratio"])
    high = min(low * ratio, fmax)
    low = min(low, high / spec["sweep_ratio"][0])
    progress = np.arange(n) / max(n - 1, 1)
    if not rising:
        progress = progress[::-1]
    freq = low * (high / low) ** progress
    return np.sin(_phase(freq, sr, rng)), *_tonal_band(low, high)


def _rising_chirp(rng, n, sr, fmax, spec):
    return _chirp(rng, n, sr, fmax, spec, rising=True)


def _falling_chirp(rng, n, sr, fmax, spec):
    return _chirp(rng, n, sr, fmax, spec, rising=False)


def _noise_band(rng, fmax, spec):
    center = _log_uniform(rng, *spec["center_freq"])
    half_octaves = rng.uniform(*spec["bandwidth_octaves"]) / 2
    high = min(center * 2**half_octaves, fmax)
    low = min(center / 2**half_octaves, high / 1.3)
    return low, high


def _noise_burst(rng, n, sr, fmax, spec):
    low, high = _noise_band(rng, fmax, spec)
    return _band_noise(rng, n, sr, low, high), low, high


def _click_train(rng, n, sr, fmax, spec):
    rate = rng.uniform(*spec["rate_hz"])
    high = min(_log_uniform(rng, *spec["band_high"]), fmax)
    low = min(_log_uniform(rng, *spec["band_low"]), high / 2)
    length = max(16, int(spec["click_s"] * sr))
    taps = np.arange(length) - (length - 1) / 2
    kernel = (2 * high / sr) * np.sinc(2 * high / sr * taps) - (
        2 * low / sr
    ) * np.sinc(2 * low / sr * taps)
    kernel *= np.hanning(length)
    period = sr / rate
    count = int(n / period) + 2
    positions = rng.uniform(0, period) + np.arange(count) * period
    positions += rng.normal(0, 0.03 * period, count)
    amplitudes = rng.uniform(0.5, 1.0, count)
    positions = np.round(positions).astype(np.int64)
    keep = (positions >= 0) & (positions <= n - length)
    impulses = np.zeros(n)
    np.add.at(impulses, positions[keep], amplitudes[keep])
    if not keep.any():  # an event shorter than one period still holds one click
        impulses[max(0, (n - length) // 2)] = 1.0
    size = _fast_length(n + length - 1)
    wave = np.fft.irfft(
        np.fft.rfft(impulses, size) * np.fft.rfft(kernel, size), size
    )[:n]
    return wave, low, high


def _harmonic_stack(rng, n, sr, fmax, spec):
    t = np.arange(n) / sr
    f0 = min(_log_uniform(rng, *spec["f0"]), fmax / 2)
    count = int(
        rng.integers(spec["n_harmonics"][0], spec["n_harmonics"][1] + 1)
    )
    count = max(2, min(count, int(fmax // f0)))
    rolloff = rng.uniform(*spec["rolloff"])
    phases = rng.uniform(0, 2 * np.pi, count)
    orders = np.arange(1, count + 1)
    wave = np.zeros(n)
    for order, phase in zip(orders, phases):
        wave += order**-rolloff * np.sin(2 * np.pi * order * f0 * t + phase)
    return wave, *_tonal_band(f0, count * f0)


def _am_tone(rng, n, sr, fmax, spec):
    t = np.arange(n) / sr
    rate = rng.uniform(*spec["mod_rate_hz"])
    freq = min(_log_uniform(rng, *spec["freq"]), fmax - rate)
    depth = rng.uniform(*spec["mod_depth"])
    envelope = 1 + depth * np.sin(
        2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi)
    )
    return envelope * np.sin(_phase(np.full(n, freq), sr, rng)), *_tonal_band(
        freq - rate, freq + rate
    )


def _fm_tone(rng, n, sr, fmax, spec):
    t = np.arange(n) / sr
    deviation = rng.uniform(*spec["deviation"])
    freq = min(_log_uniform(rng, *spec["freq"]), fmax / (1 + deviation))
    rate = rng.uniform(*spec["mod_rate_hz"])
    track = freq * (
        1 + deviation * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
    )
    return np.sin(_phase(track, sr, rng)), *_tonal_band(
        freq * (1 - deviation), freq * (1 + deviation)
    )


def _low_rumble(rng, n, sr, fmax, spec):
    t = np.arange(n) / sr
    low = rng.uniform(*spec["band_low"])
    high = min(_log_uniform(rng, *spec["cutoff"]), fmax)
    depth = rng.uniform(*spec["mod_depth"])
    rate = rng.uniform(*spec["mod_rate_hz"])
    envelope = 1 + depth * np.sin(
        2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi)
    )
    return envelope * _band_noise(rng, n, sr, low, high), low, high


def _impact(rng, n, sr, fmax, spec):
    t = np.arange(n) / sr
    high = min(_log_uniform(rng, *spec["band_high"]), fmax)
    low = min(_log_uniform(rng, *spec["band_low"]), high / 4)
    decay = rng.uniform(*spec["decay_share"]) * n / sr
    noise = _band_noise(rng, n, sr, low, high) * np.exp(-t / decay)
    wave = noise / max(np.sqrt(np.mean(noise * noise)), 1e-12)
    count = int(rng.integers(spec["n_modes"][0], spec["n_modes"][1] + 1))
    for _ in range(count):
        mode_freq = _log_uniform(rng, low * 1.5, high / 1.5)
        ring = np.exp(-t / (decay * rng.uniform(1.0, 2.0))) * np.sin(
            _phase(np.full(n, mode_freq), sr, rng)
        )
        wave += (
            rng.uniform(0.3, 1.0)
            * ring
            / max(np.sqrt(np.mean(ring * ring)), 1e-12)
        )
    return wave, low, high


def _warble(rng, n, sr, fmax, spec):
    t = np.arange(n) / sr
    ratio = rng.uniform(*spec["ratio"])
    low = min(_log_uniform(rng, *spec["freq"]), fmax / ratio)
    high = low * ratio
    rate = rng.uniform(*spec["rate_hz"])
    gate = _smooth_gate(t, rate, 0.5, rng.uniform(0, 2 * np.pi), 0.1 / rate)
    return np.sin(_phase(low + (high - low) * gate, sr, rng)), *_tonal_band(
        low, high
    )


def _pulsed_noise(rng, n, sr, fmax, spec):
    t = np.arange(n) / sr
    low, high = _noise_band(rng, fmax, spec)
    rate = rng.uniform(*spec["rate_hz"])
    duty = rng.uniform(*spec["duty"])
    gate = _smooth_gate(
        t, rate, duty, rng.uniform(0, 2 * np.pi), spec["edge_s"]
    )
    return gate * _band_noise(rng, n, sr, low, high), low, high


def _siren(rng, n, sr, fmax, spec):
    t = np.arange(n) / sr
    ratio = rng.uniform(*spec["ratio"])
    low = min(_log_uniform(rng, *spec["low_freq"]), fmax / ratio)
    high = low * ratio
    rate = rng.uniform(*spec["cycles"]) * sr / n
    sweep = 0.5 + 0.5 * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
    return np.sin(_phase(low * ratio**sweep, sr, rng)), *_tonal_band(low, high)


def _buzz(rng, n, sr, fmax, spec):
    t = np.arange(n) / sr
    f0 = _log_uniform(rng, *spec["f0"])
    top = min(_log_uniform(rng, *spec["top_freq"]), fmax)
    count = max(2, int(top // (f0 * 1.01)))
    track = f0 * (1 + 0.01 * np.sin(2 * np.pi * rng.uniform(0.3, 1.0) * t))
    phase = np.mod(_phase(track, sr, rng), 2 * np.pi)
    # Sum of cos(k * phase), k = 1..count, in closed form (the Dirichlet kernel).
    half = np.sin(phase / 2)
    safe = np.where(np.abs(half) < 1e-9, 1.0, half)
    wave = np.where(
        np.abs(half) < 1e-9,
        float(count),
        np.sin((count + 0.5) * phase) / (2 * safe) - 0.5,
    )
    return wave, *_tonal_band(f0 * 0.99, count * f0 * 1.01)


_SYNTHS = {
    "pure_tone": _pure_tone,
    "rising_chirp": _rising_chirp,
    "falling_chirp": _falling_chirp,
    "noise_burst": _noise_burst,
    "click_train": _click_train,
    "harmonic_stack": _harmonic_stack,
    "am_tone": _am_tone,
    "fm_tone": _fm_tone,
    "low_rumble": _low_rumble,
    "impact": _impact,
    "warble": _warble,
    "pulsed_noise": _pulsed_noise,
    "siren": _siren,
    "buzz": _buzz,
}


def make_event(rng, name, clip_samples, sample_rate, fmax=None):
    """One event of class ``name`` placed in a clip of ``clip_samples`` samples.

    Returns a dict: ``wave [length]`` (unit RMS, 0 at both ends), ``start`` (sample), ``category``,
    ``onset_s``, ``offset_s``, ``f_low_hz``, ``f_high_hz``.
    """
    spec = CLASS_SPECS[name]
    fmax = NYQUIST_SHARE * sample_rate if fmax is None else fmax
    shortest = min(clip_samples, max(8, int(MIN_EVENT_S * sample_rate)))
    length = int(round(rng.uniform(*spec["duration"]) * clip_samples))
    length = max(shortest, min(clip_samples, length))
    wave, f_low, f_high = _SYNTHS[name](rng, length, sample_rate, fmax, spec)
    fade_in = int(rng.uniform(*spec.get("fade", FADE_S)) * sample_rate)
    fade_out = int(rng.uniform(*FADE_S) * sample_rate)
    wave = wave * _fade(length, fade_in, fade_out)
    wave = wave / max(np.sqrt(np.mean(wave * wave)), 1e-12)
    start = int(rng.integers(0, clip_samples - length + 1))
    return {
        "category": name,
        "wave": wave,
        "start": start,
        "onset_s": start / sample_rate,
        "offset_s": (start + length) / sample_rate,
        "f_low_hz": float(f_low),
        "f_high_hz": float(f_high),
    }


def render_clip(
    rng,
    clip_samples,
    sample_rate,
    targets,
    distractor_pool=(),
    fmax=None,
    snr_db_range=SNR_DB_RANGE,
    distractor_prob=DISTRACTOR_PROB,
    distractor_db_below=DISTRACTOR_DB_BELOW,
    level_dbfs_range=LEVEL_DBFS_RANGE,
    quantiles=None,
):
    """Mix background, the target events (classes ``targets``) and maybe one distractor.

    Levels never depend on the class: every event's energy over the whole clip is set against the background's
    (``snr_db``, drawn from ``snr_db_range``), and the mixture is scaled to an RMS level drawn from
    ``level_dbfs_range``. ``quantiles`` (optional ``(snr, level)`` in [0, 1)) places the first target's SNR and
    the level at those quantiles of their ranges instead of drawing them: the layouts stratify them per class, so
    that every class spans both ranges evenly, not only on average. So the clip's level and the background's level follow the same
    distribution for every class (a peak normalisation would make impulsive classes, whose peaks are high, quiet
    clips with a quiet background, and let the level name the class).

    Returns ``(mixture [samples], clean [samples], target_events, distractor_events)``; ``clean`` is the
    sum of the target events exactly as they are in the mixture, and the events carry ``snr_db``.
    """
    mixture = _background(
        rng, clip_samples, sample_rate
    )  # unit RMS over the clip
    clean = np.zeros(clip_samples)
    target_events = []
    snr_quantile, level_quantile = (
        (None, None) if quantiles is None else quantiles
    )
    for name in targets:
        event = make_event(rng, name, clip_samples, sample_rate, fmax)
        quantile = (
            rng.uniform()
            if snr_quantile is None or target_events
            else snr_quantile
        )
        event["snr_db"] = float(
            snr_db_range[0] + (snr_db_range[1] - snr_db_range[0]) * quantile
        )
        _place(clean, event, event["snr_db"], clip_samples)
        target_events.append(event)
    distractor_events = []
    pool = [name for name in distractor_pool if name not in targets]
    if rng.random() < distractor_prob and pool:
        event = make_event(
            rng,
            pool[int(rng.integers(len(pool)))],
            clip_samples,
            sample_rate,
            fmax,
        )
        event["snr_db"] = target_events[0]["snr_db"] - float(
            rng.uniform(*distractor_db_below)
        )
        _place(mixture, event, event["snr_db"], clip_samples)
        distractor_events.append(event)
    mixture += clean
    quantile = (
        rng.uniform() if level_quantile is None else float(level_quantile)
    )
    low, high = level_dbfs_range
    level = 10 ** ((low + (high - low) * quantile) / 20)
    scale = level / max(np.sqrt(np.mean(mixture * mixture)), 1e-12)
    peak = scale * np.max(np.abs(mixture))
    if (
        peak > MAX_PEAK
    ):  # rare (impulsive events at a high level): turned down rather than clipped
        scale *= MAX_PEAK / peak
        for event in target_events:
            event["peak_limited"] = True
    for event in target_events + distractor_events:
        event["gain"] *= scale
    return mixture * scale, clean * scale, target_events, distractor_events


def _place(signal, event, snr_db, clip_samples):
    """Add ``event`` (unit RMS over its own extent) to ``signal`` so that its energy over the whole clip is
    ``snr_db`` above that of a unit-RMS background."""
    wave = event["wave"]
    event["gain"] = 10 ** (snr_db / 20) * np.sqrt(clip_samples / len(wave))
    signal[event["start"] : event["start"] + len(wave)] += event["gain"] * wave


def event_signal(event, clip_samples):
    """The event alone as it is in the mixture, ``[clip_samples]`` (after :func:`render_clip`)."""
    signal = np.zeros(clip_samples)
    signal[event["start"] : event["start"] + len(event["wave"])] = (
        event["gain"] * event["wave"]
    )
    return signal


# ---- writing ----------------------------------------------------------------------------------------------
def _write_wav(path, data, sample_rate, subtype="PCM_16"):
    """Write ``data [samples]`` or ``[samples, channels]`` atomically and reproducibly (no PEAK timestamp).

    Encoded in memory first: libsndfile's close on a real file calls fsync, which costs more than the encoding.
    """
    buffer = io.BytesIO()
    channels = 1 if data.ndim == 1 else data.shape[1]
    with sf.SoundFile(
        buffer, "w", int(sample_rate), channels, subtype=subtype, format="WAV"
    ) as handle:
        try:  # libsndfile stamps float files' PEAK chunk with the wall-clock time unless told not to
            sf._snd.sf_command(
                handle._file, 0x1050, sf._ffi.NULL, 0
            )  # SFC_SET_ADD_PEAK_CHUNK, SF_FALSE
        except AttributeError:
            pass
        handle.write(data.astype(np.float32))
    encoded = bytearray(buffer.getvalue())
    peak_chunk = encoded.find(b"PEAK", 0, 256)
    if (
        peak_chunk >= 0
    ):  # the command above was not available: zero the timestamp instead
        encoded[peak_chunk + 12 : peak_chunk + 16] = bytes(4)
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as handle:
        handle.write(encoded)
    os.replace(tmp, path)


def _write_text(path, text):
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _write_csv(path, columns, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    _write_text(path, buffer.getvalue())


def _event_row(filename, event, category=None):
    return [
        filename,
        category or event["category"],
        f"{event['onset_s']:.6f}",
        f"{event['offset_s']:.6f}",
        f"{event['f_low_hz']:.2f}",
        f"{event['f_high_hz']:.2f}",
    ]


def _clip_rng(seed, layout, index):
    return np.random.default_rng([seed, _LAYOUT_STREAM[layout], index])


def _stratified_quantiles(seed, layout, class_index, count):
    """``[count]`` pairs of quantiles (SNR, level) for the clips of one class: for each, one draw in each of
    ``count`` equal strata, in a random order, so every class spans both ranges evenly, not only on average."""
    rng = np.random.default_rng(
        [seed, _LAYOUT_STREAM[layout], _DATASET_STREAM, class_index]
    )
    draws = [
        (rng.permutation(count) + rng.uniform(size=count)) / count
        for _ in range(2)
    ]
    return list(zip(*draws))


# ---- layouts ----------------------------------------------------------------------------------------------
def _generate_esc50(
    out, classes, clips_per_class, duration, sample_rate, seed, progress, knobs
):
    for folder in ("audio", "audio_clean", "meta"):
        os.makedirs(os.path.join(out, folder), exist_ok=True)
    clip_samples = max(1, int(round(duration * sample_rate)))
    meta, events, distractors = [], [], []
    for target, name in enumerate(classes):
        quantiles = _stratified_quantiles(
            seed, "esc50", target, clips_per_class
        )
        for j in range(clips_per_class):
            index = target * clips_per_class + j
            fold = (j + target) % ESC50_FOLDS + 1
            clip_id = ESC50_CLIP_ID_BASE + index
            filename = f"{fold}-{clip_id}-A-{target}.wav"
            rng = _clip_rng(seed, "esc50", index)
            mixture, clean, targets, extra = render_clip(
                rng,
                clip_samples,
                sample_rate,
                [name],
                classes,
                quantiles=quantiles[j],
                **knobs,
            )
            _write_wav(
                os.path.join(out, "audio", filename), mixture, sample_rate
            )
            _write_wav(
                os.path.join(out, "audio_clean", filename), clean, sample_rate
            )
            meta.append([filename, fold, target, name, "False", clip_id, "A"])
            events += [_event_row(filename, event) for event in targets]
            distractors += [_event_row(filename, event) for event in extra]
            progress.update()
    meta.sort()
    events.sort()
    distractors.sort()
    _write_csv(os.path.join(out, "meta", "events.csv"), _EVENTS_COLUMNS, events)
    _write_csv(
        os.path.join(out, "meta", "distractors.csv"),
        _EVENTS_COLUMNS,
        distractors,
    )
    _write_csv(os.path.join(out, "meta", "esc50.csv"), _ESC50_COLUMNS, meta)
    return len(meta), list(classes)


def _generate_us8k(
    out, classes, clips_per_class, duration, sample_rate, seed, progress, knobs
):
    os.makedirs(os.path.join(out, "metadata"), exist_ok=True)
    os.makedirs(os.path.join(out, "meta"), exist_ok=True)
    for fold in range(1, US8K_FOLDS + 1):
        os.makedirs(os.path.join(out, "audio", f"fold{fold}"), exist_ok=True)
        os.makedirs(
            os.path.join(out, "audio_clean", f"fold{fold}"), exist_ok=True
        )
    fmax = NYQUIST_SHARE * min(min(US8K_SAMPLE_RATES), sample_rate)
    recordings = {}  # (class, fold) -> clips so far, to group slices of one "source recording"
    next_fs_id = {}
    meta, events, distractors = [], [], []
    fs_counter = 0
    for class_id, name in enumerate(classes):
        quantiles = _stratified_quantiles(
            seed, "us8k", class_id, clips_per_class
        )
        for j in range(clips_per_class):
            index = class_id * clips_per_class + j
            fold = (j + class_id) % US8K_FOLDS + 1
            position = recordings.get((class_id, fold), 0)
            recordings[(class_id, fold)] = position + 1
            slice_id = position % US8K_SLICES_PER_RECORDING
            if slice_id == 0:
                fs_counter += 1
                next_fs_id[(class_id, fold)] = 100000 + 37 * fs_counter
            fs_id = next_fs_id[(class_id, fold)]
            rng = _clip_rng(seed, "us8k", index)
            file_rate = int(
                US8K_SAMPLE_RATES[int(rng.integers(len(US8K_SAMPLE_RATES)))]
            )
            channels = int(US8K_CHANNELS[int(rng.integers(len(US8K_CHANNELS)))])
            subtype = US8K_SUBTYPES[int(rng.integers(len(US8K_SUBTYPES)))]
            length_s = duration
            if rng.random() < US8K_SHORT_PROB:
                length_s = duration * rng.uniform(*US8K_SHORT_SHARE)
            clip_samples = max(1, int(round(length_s * file_rate)))
            mixture, clean, targets, extra = render_clip(
                rng,
                clip_samples,
                file_rate,
                [name],
                classes,
                fmax=fmax,
                quantiles=quantiles[j],
                **knobs,
            )
            if channels == 2:
                gains = rng.uniform(0.7, 1.0, 2)
                mixture, clean = (
                    mixture[:, None] * gains,
                    clean[:, None] * gains,
                )
            filename = f"{fs_id}-{class_id}-0-{slice_id}.wav"
            relative = f"fold{fold}/{filename}"
            _write_wav(
                os.path.join(out, "audio", relative),
                mixture,
                file_rate,
                subtype,
            )
            _write_wav(
                os.path.join(out, "audio_clean", relative),
                clean,
                file_rate,
                subtype,
            )
            start = slice_id * duration + float(rng.uniform(0, 0.5))
            salience = (
                1
                if targets[0]["snr_db"] >= np.mean(knobs["snr_db_range"])
                else 2
            )
            meta.append(
                [
                    filename,
                    fs_id,
                    f"{start:.6f}",
                    f"{start + clip_samples / file_rate:.6f}",
                    salience,
                    fold,
                    class_id,
                    name,
                ]
            )
            events += [_event_row(relative, event) for event in targets]
            distractors += [_event_row(relative, event) for event in extra]
            progress.update()
    meta.sort(key=lambda row: (row[5], row[0]))
    events.sort()
    distractors.sort()
    _write_csv(os.path.join(out, "meta", "events.csv"), _EVENTS_COLUMNS, events)
    _write_csv(
        os.path.join(out, "meta", "distractors.csv"),
        _EVENTS_COLUMNS,
        distractors,
    )
    _write_csv(
        os.path.join(out, "metadata", "UrbanSound8K.csv"), _US8K_COLUMNS, meta
    )
    return len(meta), list(classes)


def sonyc_taxonomy(classes=None):
    """SONYC-style taxonomy of the synthetic coarse classes.

    Returns ``(coarse, fine)``: ``coarse {c: name}`` and ``fine {c: {1: name, 2: name, "X": name}}``, c = 1..8,
    names with hyphens as in SONYC-UST (``pure-tone``, ``low-pure-tone``, ``other-unknown-pure-tone``).
    """
    classes = CLASSES[:SONYC_N_COARSE] if classes is None else classes
    coarse, fine = {}, {}
    for c, name in enumerate(classes, start=1):
        hyphen = name.replace("_", "-")
        coarse[c] = hyphen
        fine[c] = {
            1: f"low-{hyphen}",
            2: f"high-{hyphen}",
            "X": f"other-unknown-{hyphen}",
        }
    return coarse, fine


def _sonyc_columns(coarse, fine):
    fine_names = [f"{c}-{f}_{fine[c][f]}" for c in coarse for f in fine[c]]
    return (
        _SONYC_ID_COLUMNS
        + [f"{name}_presence" for name in fine_names]
        + [f"{name}_proximity" for name in fine_names]
        + [f"{c}_{coarse[c]}_presence" for c in coarse]
    )


def _sonyc_row(rng, truth, proximity_truth, coarse, fine, kind):
    """Presence / proximity cells of one annotator. ``truth {c: fine key}``, ``kind`` volunteer/team/verified."""
    presence, proximity, coarse_presence = [], [], []
    for c in coarse:
        keys = list(fine[c])
        marked = truth.get(c)
        if kind == "volunteer":
            if marked is not None:
                if rng.random() < SONYC_MISS_PROB:
                    marked = None
                elif rng.random() < SONYC_UNCERTAIN_FINE_PROB:
                    marked = "X"
            elif rng.random() < SONYC_FALSE_ALARM_PROB:
                marked = keys[int(rng.integers(len(keys)))]
        elif (
            kind == "team"
            and marked is not None
            and rng.random() < SONYC_TEAM_MISS_PROB
        ):
            marked = None
        group = [1 if key == marked else 0 for key in keys]
        near = [
            ("-1" if value == 0 else _proximity(rng, proximity_truth.get(c)))
            for value in group
        ]
        coarse_value = 1 if marked is not None else 0
        if kind == "verified":
            near = ["-1"] * len(keys)
        if kind == "volunteer":
            if rng.random() < SONYC_COARSE_UNANNOTATED_PROB:
                group, near, coarse_value = (
                    [-1] * len(keys),
                    ["-1"] * len(keys),
                    -1,
                )
            elif rng.random() < SONYC_GROUP_UNANNOTATED_PROB:
                group, near = [-1] * len(keys), ["-1"] * len(keys)
        presence += group
        proximity += near
        coarse_presence.append(coarse_value)
    return presence + proximity + coarse_presence


def _proximity(rng, near):
    if near is None or rng.random() < SONYC_PROXIMITY_NOTSURE_PROB:
        return "notsure"
    return "near" if near else "far"


def _sonyc_splits(n_clips, version, rng):
    """Split name of each clip index: shuffled, in the proportions of ``SONYC_SPLITS[version]``."""
    shares = SONYC_SPLITS[version]
    counts = [max(1, int(round(share * n_clips))) for _, share in shares[1:]]
    counts.insert(0, n_clips - sum(counts))
    names = np.repeat([name for name, _ in shares], counts)
    return list(names[rng.permutation(n_clips)])


def _generate_sonyc(
    out,
    classes,
    clips_per_class,
    duration,
    sample_rate,
    seed,
    progress,
    knobs,
    version,
):
    coarse, fine = sonyc_taxonomy(classes)
    n_clips = clips_per_class * len(classes)
    dataset_rng = np.random.default_rng(
        [seed, _LAYOUT_STREAM["sonyc"], _DATASET_STREAM]
    )
    splits = _sonyc_splits(n_clips, version, dataset_rng)
    evaluated = [i for i in range(n_clips) if splits[i] != "train"]
    n_team = int(math.ceil(SONYC_TEAM_SHARE * len(evaluated)))
    team_clips = (
        set(dataset_rng.choice(evaluated, n_team, replace=False).tolist())
        if evaluated
        else set()
    )
    sensors = [
        [
            int(dataset_rng.integers(1000)),
            int(dataset_rng.choice(SONYC_BOROUGHS)),
            int(dataset_rng.integers(100, 2000)),
            f"{dataset_rng.uniform(40.70, 40.80):.6f}",
            f"{dataset_rng.uniform(-74.01, -73.95):.6f}",
        ]
        for _ in range(SONYC_N_SENSORS)
    ]
    os.makedirs(os.path.join(out, "meta"), exist_ok=True)
    for name in coarse.values():
        os.makedirs(
            os.path.join(out, "audio_clean", CLEAN_BY_CLASS, name),
            exist_ok=True,
        )
    clip_samples = max(1, int(round(duration * sample_rate)))
    quantiles = [
        _stratified_quantiles(seed, "sonyc", c, clips_per_class)
        for c in range(len(classes))
    ]
    mid_snr = float(np.mean(knobs["snr_db_range"]))
    rows, events = [], []
    for index in range(n_clips):
        rng = _clip_rng(seed, "sonyc", index)
        n_events = 1 + int(
            rng.choice(
                len(SONYC_EXTRA_EVENTS_PROBS), p=SONYC_EXTRA_EVENTS_PROBS
            )
        )
        primary = index % len(classes)
        others = [c for c in range(len(classes)) if c != primary]
        chosen = [primary] + rng.choice(
            others, n_events - 1, replace=False
        ).tolist()
        mixture, clean, targets, _ = render_clip(
            rng,
            clip_samples,
            sample_rate,
            [classes[c] for c in chosen],
            (),
            quantiles=quantiles[primary][index // len(classes)],
            **{**knobs, "distractor_prob": 0.0},
        )
        split = str(splits[index])
        filename = f"{split}_{index:05d}.wav"
        folder = (
            split
            if version == "1"
            else f"audio-{index // SONYC_CLIPS_PER_SHARD}"
        )
        os.makedirs(os.path.join(out, folder), exist_ok=True)
        _write_wav(os.path.join(out, folder, filename), mixture, sample_rate)
        _write_wav(
            os.path.join(out, "audio_clean", filename), clean, sample_rate
        )
        truth, near = {}, {}
        for c, event in zip(chosen, targets):
            _write_wav(
                os.path.join(
                    out, "audio_clean", CLEAN_BY_CLASS, coarse[c + 1], filename
                ),
                event_signal(event, clip_samples),
                sample_rate,
            )
            centre = math.sqrt(max(event["f_low_hz"], 1.0) * event["f_high_hz"])
            truth[c + 1] = (
                1 if centre < CLASS_SPECS[classes[c]]["fine_split_hz"] else 2
            )
            near[c + 1] = event["snr_db"] >= mid_snr
            events.append(_event_row(filename, event, category=coarse[c + 1]))
        sensor = sensors[int(rng.integers(len(sensors)))]
        when = [
            int(rng.integers(2016, 2020)),
            int(rng.integers(1, 53)),
            int(rng.integers(7)),
            int(rng.integers(24)),
        ]
        annotators = [
            ("volunteer", int(a))
            for a in 1
            + rng.choice(
                SONYC_N_VOLUNTEERS, SONYC_VOLUNTEERS_PER_CLIP, replace=False
            )
        ]
        if index in team_clips:
            annotators.append(("team", -int(rng.integers(1, SONYC_N_TEAM + 1))))
        if split != "train":
            annotators.append(("verified", 0))
        for kind, annotator in annotators:
            ids = [
                split,
                sensor[0],
                filename,
                annotator,
                sensor[1],
                sensor[2],
                sensor[3],
                sensor[4],
                *when,
            ]
            if version == "1":
                ids = [split, sensor[0], filename, annotator]
            rows.append(ids + _sonyc_row(rng, truth, near, coarse, fine, kind))
        progress.update()
    columns = _sonyc_columns(coarse, fine)
    if version == "1":  # v1 has no spatio-temporal metadata
        columns = columns[:4] + columns[len(_SONYC_ID_COLUMNS) :]
    events.sort()
    _write_text(
        os.path.join(out, "dcase-ust-taxonomy.yaml"),
        _taxonomy_yaml(coarse, fine),
    )
    _write_csv(os.path.join(out, "meta", "events.csv"), _EVENTS_COLUMNS, events)
    _write_csv(os.path.join(out, "annotations.csv"), columns, rows)
    return n_clips, [coarse[c] for c in coarse]


def _taxonomy_yaml(coarse, fine):
    lines = (
        ["coarse:"]
        + [f"  {c}: {name}" for c, name in coarse.items()]
        + ["fine:"]
    )
    for c, names in fine.items():
        lines.append(f"  {c}:")
        lines += [f"    {key}: {name}" for key, name in names.items()]
    return "\n".join(lines) + "\n"


# ---- the hard variant -------------------------------------------------------------------------------------
# Closer to small real sets (own recordings, tens of clips per class) than the default set: sounds that fill
# the clip (stationary broadband and harmonic-plus-noise sounds, slowly varying textures, babble, speech-like
# syllables), a share of band-limited clips (as if recorded at 8 kHz), strongly unequal class sizes (the first
# class is half the set) and few clips per class. Levels and SNRs are drawn as in the default set, stratified per
# class, and band limiting is stratified per class too, so none of them names the class. ESC-50 layout only.
HARD_CLASSES = [
    "voice",
    "engine",
    "machinery",
    "wind",
    "crowd",
    "rain",
    "hum",
    "music",
    "birdsong",
    "siren",
]
HARD_CLIPS_PER_CLASS = (
    12  # mean clips per class (the set holds clips_per_class * n_classes clips)
)
HARD_DOMINANT_SHARE = 0.5  # the first class's share of the set ...
HARD_ZIPF_EXPONENT = 0.5  # ... the others' sizes fall as 1 / rank^exponent
HARD_MIN_CLIPS = ESC50_FOLDS  # every class in every fold: the fold of clip j of class k is (j + k) % 5 + 1
# Measured (seed 0, 12 clips per class, 2 s; compact CNN 0.84 test accuracy): out of domain L-MAC trails GradCAM
# as on the small real set. At -3..9 dB with distractors 3-9 dB below, the classifier drops to 0.76 but every method
# collapses out of domain (GradCAM AI 4 % in the mixture), which no longer looks like the real set.
HARD_SNR_DB_RANGE = (0.0, 12.0)
HARD_DISTRACTOR_PROB = 0.5
HARD_DISTRACTOR_DB_BELOW = (4.0, 10.0)
HARD_LEVEL_DBFS_RANGE = LEVEL_DBFS_RANGE
HARD_BAND_LIMIT_SHARE = 0.3  # share of clips (of every class) low-passed ...
HARD_BAND_LIMIT_HZ = (
    3400.0,
    4000.0,
)  # ... at a cutoff drawn here (telephone band / 8 kHz sampling)
HARD_BAND_LIMIT_EVENT_SHARE = 0.95  # events of a band-limited clip are made below this share of its cutoff
HARD_MIN_SAMPLE_RATE = 16000
_HARD_STREAM = 1616  # part of every hard clip's seed: the hard set shares no draws with the default one

# Durations are shares of the clip length, as in CLASS_SPECS; frequencies in Hz, rates in Hz, times in seconds.
HARD_CLASS_SPECS = {
    "voice": {
        "duration": (0.7, 1.0),
        "f0": (85.0, 255.0),
        "top_hz": 5000.0,
        "syllable_s": (0.1, 0.3),
        "gap_s": (0.03, 0.12),
        "pause_prob": 0.15,
        "pause_s": (0.15, 0.3),
        "glide_octaves": (-0.4, 0.4),
        "formants": ((300.0, 850.0), (850.0, 2400.0), (2300.0, 3200.0)),
        "formant_bandwidths": (90.0, 130.0, 200.0),
        "fricative_prob": 0.35,
        "fricative_s": (0.04, 0.1),
        "fricative_band": (2500.0, 7000.0),
    },
    "engine": {
        "duration": (0.8, 1.0),
        "f0": (25.0, 90.0),
        "top_hz": (800.0, 3000.0),
        "rolloff": (0.5, 1.2),
        "drift": (0.01, 0.04),
        "drift_rate_hz": (0.1, 0.5),
        "noise_top_hz": (500.0, 2500.0),
        "noise_db": (-10.0, 3.0),
        "pulse_depth": (0.3, 0.8),
        "max_harmonics": 80,
    },
    "machinery": {
        "duration": (0.8, 1.0),
        "band_low": (80.0, 300.0),
        "band_high": (4000.0, 7500.0),
        "tilt": (0.0, 1.0),
        "n_resonances": (2, 4),
        "resonance_hz": (300.0, 5000.0),
        "resonance_width": (0.03, 0.1),
        "resonance_db": (8.0, 20.0),
        "whine_hz": (400.0, 3000.0),
        "whine_db": (-10.0, -3.0),
        "mod_rate_hz": (4.0, 15.0),
        "mod_depth": (0.1, 0.4),
    },
    "wind": {
        "duration": (0.8, 1.0),
        "band_low": (40.0, 200.0),
        "band_high": (800.0, 3500.0),
        "n_bands": 4,
        "change_s": (0.2, 0.6),
        "band_sigma_db": (6.0, 10.0),
        "gust_rate_hz": (0.2, 1.0),
        "gust_depth": (0.3, 0.9),
    },
    "crowd": {
        "duration": (0.8, 1.0),
        "bits_per_s": (20.0, 50.0),
        "bit_s": (0.06, 0.25),
        "f0": (100.0, 300.0),
        "n_harmonics": (2, 8),
        "rolloff": (0.6, 1.5),
        "bit_sigma_db": 4.0,
        "bed_db": (-10.0, -4.0),
        "bed_top_hz": 4000.0,
    },
    "rain": {
        "duration": (0.8, 1.0),
        "drops_per_s": (300.0, 2000.0),
        "drop_s": (0.0005, 0.003),
        "band_low": (500.0, 1500.0),
        "band_high": (5000.0, 8000.0),
        "drop_sigma_db": 6.0,
        "bed_db": (-8.0, -2.0),
    },
    "hum": {
        "duration": (0.8, 1.0),
        "cutoff": (1500.0, 5000.0),
        "mains_hz": (50.0, 60.0),
        "mains_db": (-12.0, -3.0),
        "n_mains_harmonics": (2, 6),
        "fan_hz": (80.0, 300.0),
        "fan_db": (-12.0, -4.0),
        "fan_mod_depth": (0.2, 0.6),
        "band_low": 40.0,
    },
    "music": {
        "duration": (0.7, 1.0),
        "base_hz": (150.0, 500.0),
        "scale": (0, 2, 4, 7, 9, 12, 14, 16),
        "note_s": (0.1, 0.35),
        "n_harmonics": (3, 8),
        "rolloff": (0.7, 1.5),
        "decay_s": (0.1, 0.5),
        "attack_s": (0.005, 0.02),
    },
    "birdsong": {
        "duration": (0.5, 1.0),
        "band": (1500.0, 6000.0),
        "syllable_s": (0.02, 0.08),
        "syllable_rate_hz": (8.0, 20.0),
        "phrase_s": (0.3, 0.9),
        "phrase_gap_s": (0.05, 0.3),
    },
    "siren": {**CLASS_SPECS["siren"], "duration": (0.7, 1.0)},
}


def _smooth_random_gain(rng, n, sr, change_s, sigma_db):
    """Slowly varying positive gain ``[n]``: log-normal values every ~``change_s`` seconds, linearly joined in dB."""
    step = max(1, int(change_s * sr))
    count = n // step + 2
    points = np.arange(count) * step - int(rng.uniform(0, step))
    values = rng.normal(0.0, sigma_db, count)
    return 10 ** (np.interp(np.arange(n), points, values) / 20)


def _harmonic_tone(phase, amplitudes):
    """Sum of ``amplitudes[k] * sin((k + 1) * phase)`` ``[samples]``."""
    wave = np.zeros(len(phase))
    for order, amplitude in enumerate(amplitudes, start=1):
        wave += amplitude * np.sin(order * phase)
    return wave


def _formant_gain(freqs, formants, bandwidths):
    gain = np.full(len(freqs), 0.02)
    for centre, width in zip(formants, bandwidths):
        gain += 1.0 / (1.0 + ((freqs - centre) / width) ** 2)
    return gain


def _voice(rng, n, sr, fmax, spec):
    """Speech-like: voiced syllables (a gliding harmonic source through three formants), some led by a fricative,
    separated by short gaps and the odd pause."""
    f0 = _log_uniform(rng, *spec["f0"])
    top = min(spec["top_hz"], fmax)
    wave = np.zeros(n)
    lowest, highest = f0, f0
    shortest = int(0.03 * sr)
    position = (
        int(rng.uniform(0, spec["gap_s"][1]) * sr) if n > 4 * shortest else 0
    )
    while n - position > min(shortest, n - 1):
        if rng.random() < spec["fricative_prob"]:
            length = min(
                int(rng.uniform(*spec["fricative_s"]) * sr), n - position
            )
            high = min(spec["fricative_band"][1], fmax)
            low = min(spec["fricative_band"][0], 0.6 * high)
            burst = _band_noise(rng, length, sr, low, high) * _fade(
                length, length // 3, length // 3
            )
            wave[position : position + length] += (
                0.3 * burst / max(np.sqrt(np.mean(burst * burst)), 1e-12)
            )
            highest = max(highest, high)
            position += length
        length = min(int(rng.uniform(*spec["syllable_s"]) * sr), n - position)
        if length < min(shortest, n):
            break
        progress = np.arange(length) / length
        start, end = rng.uniform(-0.2, 0.2), rng.uniform(*spec["glide_octaves"])
        track = f0 * 2 ** (start + (end - start) * progress)
        count = max(1, int(top // track.max()))
        formants = [rng.uniform(*band) for band in spec["formants"]]
        gains = _formant_gain(
            f0 * np.arange(1, count + 1), formants, spec["formant_bandwidths"]
        )
        syllable = _harmonic_tone(
            _phase(track, sr, rng), gains / np.arange(1, count + 1) ** 0.5
        )
        envelope = _fade(
            length,
            int(rng.uniform(0.01, 0.03) * sr),
            int(rng.uniform(0.03, 0.06) * sr),
        )
        syllable *= (
            envelope
            * rng.uniform(0.5, 1.0)
            / max(np.sqrt(np.mean(syllable * syllable)), 1e-12)
        )
        wave[position : position + length] += syllable
        lowest, highest = (
            min(lowest, track.min()),
            max(highest, count * track.max()),
        )
        position += length + int(rng.uniform(*spec["gap_s"]) * sr)
        if rng.random() < spec["pause_prob"]:
            position += int(rng.uniform(*spec["pause_s"]) * sr)
    return wave, *_tonal_band(lowest, min(highest, fmax))


def _engine(rng, n, sr, fmax, spec):
    """Harmonic plus noise: the firing rate's harmonics (slow drift) and low noise pulsing at the firing rate."""
    t = np.arange(n) / sr
    f0 = _log_uniform(rng, *spec["f0"])
    drift = rng.uniform(*spec["drift"])
    track = f0 * (
        1
        + drift
        * np.sin(
            2 * np.pi * rng.uniform(*spec["drift_rate_hz"]) * t
            + rng.uniform(0, 2 * np.pi)
        )
    )
    top = min(_log_uniform(rng, *spec["top_hz"]), fmax)
    count = int(min(spec["max_harmonics"], max(2, top // (f0 * (1 + drift)))))
    amplitudes = np.arange(1, count + 1) ** -rng.uniform(
        *spec["rolloff"]
    ) * rng.uniform(0.5, 1.5, count)
    phase = _phase(track, sr, rng)
    harmonic = _harmonic_tone(phase, amplitudes)
    noise_top = min(_log_uniform(rng, *spec["noise_top_hz"]), fmax)
    noise = _band_noise(rng, n, sr, 20.0, noise_top) * (
        1 + rng.uniform(*spec["pulse_depth"]) * np.cos(phase)
    )
    wave = harmonic / max(np.sqrt(np.mean(harmonic**2)), 1e-12)
    wave += (
        10 ** (rng.uniform(*spec["noise_db"]) / 20)
        * noise
        / max(np.sqrt(np.mean(noise**2)), 1e-12)
    )
    return wave, *_tonal_band(
        f0 * (1 - drift), max(count * f0 * (1 + drift), noise_top)
    )


def _machinery(rng, n, sr, fmax, spec):
    """Stationary broadband noise with resonances, a steady whine and a slight rotation-rate modulation."""
    t = np.arange(n) / sr
    high = min(_log_uniform(rng, *spec["band_high"]), fmax)
    low = min(_log_uniform(rng, *spec["band_low"]), high / 4)
    size = _fast_length(n)
    freqs = np.fft.rfftfreq(size, 1.0 / sr)
    amplitude = np.maximum(freqs, low) ** (-rng.uniform(*spec["tilt"]) / 2)
    amplitude /= amplitude[(freqs >= low) & (freqs <= high)].mean()
    count = int(
        rng.integers(spec["n_resonances"][0], spec["n_resonances"][1] + 1)
    )
    for _ in range(count):
        centre = _log_uniform(
            rng,
            max(spec["resonance_hz"][0], low * 1.5),
            min(spec["resonance_hz"][1], high / 1.2),
        )
        width = centre * rng.uniform(*spec["resonance_width"])
        amplitude += 10 ** (rng.uniform(*spec["resonance_db"]) / 20) / (
            1 + ((freqs - centre) / width) ** 2
        )
    amplitude[(freqs < low) | (freqs > high)] = 0
    noise = np.fft.irfft(
        np.fft.rfft(rng.standard_normal(size)) * amplitude, size
    )[:n]
    wave = noise / max(np.sqrt(np.mean(noise**2)), 1e-12)
    whine = _log_uniform(
        rng,
        spec["whine_hz"][0],
        max(spec["whine_hz"][0] * 1.01, min(spec["whine_hz"][1], high)),
    )
    wave += (
        10 ** (rng.uniform(*spec["whine_db"]) / 20)
        * np.sqrt(2)
        * np.sin(_phase(np.full(n, whine), sr, rng))
    )
    rate = rng.uniform(*spec["mod_rate_hz"])
    wave *= 1 + rng.uniform(*spec["mod_depth"]) * np.sin(
        2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi)
    )
    return wave, low, high


def _wind(rng, n, sr, fmax, spec):
    """Slowly varying band noise: log-spaced sub-bands whose levels wander independently, under slow gusts."""
    t = np.arange(n) / sr
    high = min(_log_uniform(rng, *spec["band_high"]), fmax)
    low = min(_log_uniform(rng, *spec["band_low"]), high / 4)
    edges = np.geomspace(low, high, spec["n_bands"] + 1)
    change_s = rng.uniform(*spec["change_s"])
    sigma_db = rng.uniform(*spec["band_sigma_db"])
    wave = np.zeros(n)
    for band_low, band_high in zip(edges[:-1], edges[1:]):
        band = _band_noise(rng, n, sr, band_low, band_high)
        band /= max(np.sqrt(np.mean(band**2)), 1e-12)
        wave += band * _smooth_random_gain(rng, n, sr, change_s, sigma_db)
    gust = 1 + rng.uniform(*spec["gust_depth"]) * np.sin(
        2 * np.pi * rng.uniform(*spec["gust_rate_hz"]) * t
        + rng.uniform(0, 2 * np.pi)
    )
    return wave * gust, low, high


def _crowd(rng, n, sr, fmax, spec):
    """Babble: many overlapping short harmonic bits of random pitch and glide over a soft noise bed."""
    wave = np.zeros(n)
    count = max(3, int(round(rng.uniform(*spec["bits_per_s"]) * n / sr)))
    lowest, highest = spec["f0"][1], spec["f0"][0]
    for _ in range(count):
        length = max(16, int(rng.uniform(*spec["bit_s"]) * sr))
        f0 = _log_uniform(rng, *spec["f0"])
        track = f0 * 2 ** np.linspace(0, rng.uniform(-0.3, 0.3), length)
        harmonics = max(
            1,
            min(
                int(
                    rng.integers(
                        spec["n_harmonics"][0], spec["n_harmonics"][1] + 1
                    )
                ),
                int(fmax // track.max()),
            ),
        )
        bit = _harmonic_tone(
            _phase(track, sr, rng),
            np.arange(1, harmonics + 1) ** -rng.uniform(*spec["rolloff"]),
        )
        bit *= _fade(length, length // 4, length // 3) / max(
            np.sqrt(np.mean(bit * bit)), 1e-12
        )
        bit *= 10 ** (rng.normal(0, spec["bit_sigma_db"]) / 20)
        start = int(rng.integers(-length // 2, n - length // 2))
        lo, hi = max(0, start), min(n, start + length)
        wave[lo:hi] += bit[lo - start : hi - start]
        lowest, highest = (
            min(lowest, track.min()),
            max(highest, harmonics * track.max()),
        )
    wave /= max(np.sqrt(np.mean(wave * wave)), 1e-12)
    bed_top = min(spec["bed_top_hz"], fmax)
    bed = _band_noise(rng, n, sr, lowest, bed_top)
    wave += (
        10 ** (rng.uniform(*spec["bed_db"]) / 20)
        * bed
        / max(np.sqrt(np.mean(bed * bed)), 1e-12)
    )
    return wave, *_tonal_band(lowest, max(min(highest, fmax), bed_top))


def _rain(rng, n, sr, fmax, spec):
    """Dense random drops (short decaying broadband bursts, Poisson times, log-normal sizes) over a noise bed."""
    high = min(_log_uniform(rng, *spec["band_high"]), fmax)
    low = min(_log_uniform(rng, *spec["band_low"]), high / 3)
    count = int(rng.poisson(rng.uniform(*spec["drops_per_s"]) * n / sr)) + 1
    impulses = np.zeros(n)
    np.add.at(
        impulses,
        rng.integers(0, n, count),
        10 ** (rng.normal(0, spec["drop_sigma_db"], count) / 20),
    )
    decay = rng.uniform(*spec["drop_s"])
    length = max(16, int(5 * decay * sr))
    kernel = rng.standard_normal(length) * np.exp(
        -np.arange(length) / (decay * sr)
    )
    size = _fast_length(n + length - 1)
    drops = np.fft.irfft(
        np.fft.rfft(impulses, size) * np.fft.rfft(kernel, size), size
    )[:n]
    spectrum = np.fft.rfft(drops, size)
    freqs = np.fft.rfftfreq(size, 1.0 / sr)
    spectrum[(freqs < low) | (freqs > high)] = 0
    drops = np.fft.irfft(spectrum, size)[:n]
    wave = drops / max(np.sqrt(np.mean(drops**2)), 1e-12)
    bed = _band_noise(rng, n, sr, low, high)
    wave += (
        10 ** (rng.uniform(*spec["bed_db"]) / 20)
        * bed
        / max(np.sqrt(np.mean(bed**2)), 1e-12)
    )
    return wave, low, high


def _hum(rng, n, sr, fmax, spec):
    """Air-conditioner-like: stationary low-passed broadband noise, mains hum harmonics and a fan's blade tone."""
    t = np.arange(n) / sr
    cutoff = min(_log_uniform(rng, *spec["cutoff"]), fmax)
    size = _fast_length(n)
    freqs = np.fft.rfftfreq(size, 1.0 / sr)
    amplitude = 1.0 / (1.0 + (freqs / cutoff) ** 2)
    amplitude[(freqs < spec["band_low"]) | (freqs > fmax)] = 0
    noise = np.fft.irfft(
        np.fft.rfft(rng.standard_normal(size)) * amplitude, size
    )[:n]
    wave = noise / max(np.sqrt(np.mean(noise**2)), 1e-12)
    mains = spec["mains_hz"][int(rng.integers(len(spec["mains_hz"])))]
    orders = np.arange(
        2,
        int(
            rng.integers(
                spec["n_mains_harmonics"][0], spec["n_mains_harmonics"][1] + 1
            )
        )
        + 2,
    )
    orders = orders[orders * mains < fmax]
    hum = _harmonic_tone(
        _phase(np.full(n, mains), sr, rng),
        [
            1.0 / order if order in orders else 0.0
            for order in range(1, orders.max() + 1)
        ],
    )
    wave += (
        10 ** (rng.uniform(*spec["mains_db"]) / 20)
        * hum
        / max(np.sqrt(np.mean(hum**2)), 1e-12)
    )
    fan = _log_uniform(rng, *spec["fan_hz"])
    blade = np.sin(_phase(np.full(n, fan), sr, rng)) * (
        1
        + rng.uniform(*spec["fan_mod_depth"]) * np.sin(2 * np.pi * fan / 8 * t)
    )
    wave += (
        10 ** (rng.uniform(*spec["fan_db"]) / 20)
        * blade
        / max(np.sqrt(np.mean(blade**2)), 1e-12)
    )
    return (
        wave,
        spec["band_low"],
        min(2 * cutoff, fmax),
    )  # the noise rolls off above the cutoff, 6 dB / octave


def _music(rng, n, sr, fmax, spec):
    """A melody: harmonic notes on a pentatonic scale, plucked (decaying) and slightly overlapping."""
    base = _log_uniform(rng, *spec["base_hz"])
    rolloff = rng.uniform(*spec["rolloff"])
    wave = np.zeros(n)
    position, lowest, highest = 0, fmax, 0.0
    while position < n:
        length = min(int(rng.uniform(*spec["note_s"]) * sr), n - position)
        if length < 16:
            break
        f0 = min(
            base
            * 2 ** (spec["scale"][int(rng.integers(len(spec["scale"])))] / 12),
            fmax / 2,
        )
        harmonics = max(
            1,
            min(
                int(
                    rng.integers(
                        spec["n_harmonics"][0], spec["n_harmonics"][1] + 1
                    )
                ),
                int(fmax // f0),
            ),
        )
        t = np.arange(length) / sr
        note = _harmonic_tone(
            _phase(np.full(length, f0), sr, rng),
            np.arange(1, harmonics + 1) ** -rolloff,
        )
        note *= np.exp(-t / rng.uniform(*spec["decay_s"])) * _fade(
            length, int(rng.uniform(*spec["attack_s"]) * sr), int(0.01 * sr)
        )
        wave[position : position + length] += note
        lowest, highest = min(lowest, f0), max(highest, harmonics * f0)
        position += int(length * rng.uniform(0.8, 1.0))
    return wave, *_tonal_band(lowest, highest)


def _birdsong(rng, n, sr, fmax, spec):
    """Phrases of fast repeated frequency sweeps (trills) separated by short silences."""
    high = min(spec["band"][1], fmax)
    low = min(spec["band"][0], high / 1.5)
    wave = np.zeros(n)
    position, lowest, highest = (
        int(rng.uniform(0, spec["phrase_gap_s"][1]) * sr),
        high,
        low,
    )
    while position < n - 16:
        phrase_end = min(n, position + int(rng.uniform(*spec["phrase_s"]) * sr))
        start_f, end_f = (
            _log_uniform(rng, low, high),
            _log_uniform(rng, low, high),
        )
        length = int(rng.uniform(*spec["syllable_s"]) * sr)
        period = max(
            length + 16, int(sr / rng.uniform(*spec["syllable_rate_hz"]))
        )
        while position + 16 < phrase_end:
            size = min(length, phrase_end - position)
            track = start_f * (end_f / start_f) ** (np.arange(size) / size)
            wave[position : position + size] += np.sin(
                _phase(track, sr, rng)
            ) * _fade(size, size // 4, size // 4)
            lowest, highest = (
                min(lowest, track.min()),
                max(highest, track.max()),
            )
            position += period
        position = phrase_end + int(rng.uniform(*spec["phrase_gap_s"]) * sr)
    if (
        highest < lowest
    ):  # no syllable fitted (a very short event): one sweep over the whole event
        track = np.geomspace(low, high, n)
        wave = np.sin(_phase(track, sr, rng)) * _fade(n, n // 4, n // 4)
        lowest, highest = low, high
    return wave, *_tonal_band(lowest, min(highest, fmax))


_HARD_SYNTHS = {
    "voice": _voice,
    "engine": _engine,
    "machinery": _machinery,
    "wind": _wind,
    "crowd": _crowd,
    "rain": _rain,
    "hum": _hum,
    "music": _music,
    "birdsong": _birdsong,
    "siren": _siren,
}

VARIANTS = ("default", "hard")
# Per variant: its classes and the defaults of generate_dataset's knobs.
_VARIANT_DEFAULTS = {
    "default": {
        "classes": CLASSES,
        "clips_per_class": 40,
        "snr_db_range": SNR_DB_RANGE,
        "distractor_prob": DISTRACTOR_PROB,
        "distractor_db_below": DISTRACTOR_DB_BELOW,
        "level_dbfs_range": LEVEL_DBFS_RANGE,
    },
    "hard": {
        "classes": HARD_CLASSES,
        "clips_per_class": HARD_CLIPS_PER_CLASS,
        "snr_db_range": HARD_SNR_DB_RANGE,
        "distractor_prob": HARD_DISTRACTOR_PROB,
        "distractor_db_below": HARD_DISTRACTOR_DB_BELOW,
        "level_dbfs_range": HARD_LEVEL_DBFS_RANGE,
    },
}


def hard_class_weights(n_classes):
    """Default relative class sizes of the hard variant ``[n_classes]``: the first class is
    ``HARD_DOMINANT_SHARE`` of the set, the others fall as ``1 / rank^HARD_ZIPF_EXPONENT``."""
    others = np.arange(1, n_classes, dtype=float) ** -HARD_ZIPF_EXPONENT
    first = others.sum() * HARD_DOMINANT_SHARE / (1 - HARD_DOMINANT_SHARE)
    return [float(first)] + others.tolist()


def class_counts(total, weights, minimum=HARD_MIN_CLIPS):
    """Clips per class ``[len(weights)]``: ``total`` clips shared in proportion to ``weights``, each class at least
    ``minimum`` (one clip at a time to the class furthest below its share; ties to the first)."""
    weights = np.asarray(weights, dtype=float)
    counts = np.full(len(weights), int(minimum))
    ideal = total * weights / weights.sum()
    for _ in range(int(total) - counts.sum()):
        counts[int(np.argmax(ideal - counts))] += 1
    return counts.tolist()


def _lowpass(wave, sample_rate, cutoff):
    """``wave [n]`` with its spectrum above ``cutoff`` removed (circularly, over exactly its own length, so what
    was inside the extent stays inside it)."""
    spectrum = np.fft.rfft(wave)
    spectrum[np.fft.rfftfreq(len(wave), 1.0 / sample_rate) > cutoff] = 0
    return np.fft.irfft(spectrum, len(wave))


def make_hard_event(
    rng, name, clip_samples, sample_rate, fmax=None, cutoff=None
):
    """One event of the hard variant's class ``name`` (as :func:`make_event`); ``cutoff`` (Hz, optional): the clip
    is band-limited there, the event is made below ``HARD_BAND_LIMIT_EVENT_SHARE * cutoff`` and low-passed at it.
    """
    spec = HARD_CLASS_SPECS[name]
    fmax = NYQUIST_SHARE * sample_rate if fmax is None else fmax
    if cutoff is not None:
        fmax = min(fmax, HARD_BAND_LIMIT_EVENT_SHARE * cutoff)
    shortest = min(clip_samples, max(8, int(MIN_EVENT_S * sample_rate)))
    length = int(round(rng.uniform(*spec["duration"]) * clip_samples))
    length = max(shortest, min(clip_samples, length))
    wave, f_low, f_high = _HARD_SYNTHS[name](
        rng, length, sample_rate, fmax, spec
    )
    wave = wave * _fade(
        length,
        int(rng.uniform(*FADE_S) * sample_rate),
        int(rng.uniform(*FADE_S) * sample_rate),
    )
    if cutoff is not None:
        wave = _lowpass(wave, sample_rate, cutoff)
        f_high = min(f_high, cutoff)
        f_low = min(f_low, f_high / 2)
    wave = wave / max(np.sqrt(np.mean(wave * wave)), 1e-12)
    start = int(rng.integers(0, clip_samples - length + 1))
    return {
        "category": name,
        "wave": wave,
        "start": start,
        "onset_s": start / sample_rate,
        "offset_s": (start + length) / sample_rate,
        "f_low_hz": float(f_low),
        "f_high_hz": float(f_high),
    }


def render_hard_clip(
    rng,
    clip_samples,
    sample_rate,
    target,
    distractor_pool,
    quantiles,
    cutoff=None,
    snr_db_range=HARD_SNR_DB_RANGE,
    distractor_prob=HARD_DISTRACTOR_PROB,
    distractor_db_below=HARD_DISTRACTOR_DB_BELOW,
    level_dbfs_range=HARD_LEVEL_DBFS_RANGE,
):
    """A hard-variant clip: background, the target event of class ``target`` and maybe one distractor, levels as
    :func:`render_clip` (SNR over the whole clip, RMS level, both at the ``quantiles`` ``(snr, level)`` of their
    ranges). With ``cutoff`` (Hz) every part is low-passed there before the levels are set, so the SNR drawn is the
    SNR of the band-limited clip.

    Returns ``(mixture [samples], clean [samples], [target_event], distractor_events)``.
    """
    mixture = _background(rng, clip_samples, sample_rate)
    if cutoff is not None:
        mixture = _lowpass(mixture, sample_rate, cutoff)
        mixture /= max(np.sqrt(np.mean(mixture * mixture)), 1e-12)
    clean = np.zeros(clip_samples)
    event = make_hard_event(
        rng, target, clip_samples, sample_rate, cutoff=cutoff
    )
    event["snr_db"] = float(
        snr_db_range[0] + (snr_db_range[1] - snr_db_range[0]) * quantiles[0]
    )
    _place(clean, event, event["snr_db"], clip_samples)
    distractor_events = []
    pool = [name for name in distractor_pool if name != target]
    if rng.random() < distractor_prob and pool:
        extra = make_hard_event(
            rng,
            pool[int(rng.integers(len(pool)))],
            clip_samples,
            sample_rate,
            cutoff=cutoff,
        )
        extra["snr_db"] = event["snr_db"] - float(
            rng.uniform(*distractor_db_below)
        )
        _place(mixture, extra, extra["snr_db"], clip_samples)
        distractor_events.append(extra)
    mixture += clean
    low, high = level_dbfs_range
    scale = 10 ** ((low + (high - low) * float(quantiles[1])) / 20) / max(
        np.sqrt(np.mean(mixture**2)), 1e-12
    )
    peak = scale * np.max(np.abs(mixture))
    if peak > MAX_PEAK:
        scale *= MAX_PEAK / peak
        event["peak_limited"] = True
    for each in [event] + distractor_events:
        each["gain"] *= scale
    return mixture * scale, clean * scale, [event], distractor_events


def _hard_stratified(seed, class_index, count):
    """``[count]`` triples of quantiles (SNR, level, band limit) for the clips of one class of the hard variant,
    each stratified as in :func:`_stratified_quantiles`."""
    rng = np.random.default_rng(
        [
            seed,
            _LAYOUT_STREAM["esc50"],
            _HARD_STREAM,
            _DATASET_STREAM,
            class_index,
        ]
    )
    draws = [
        (rng.permutation(count) + rng.uniform(size=count)) / count
        for _ in range(3)
    ]
    return list(zip(*draws))


def _generate_esc50_hard(
    out, classes, counts, duration, sample_rate, seed, progress, knobs
):
    """The hard variant in the ESC-50 layout; also writes ``meta/clips.csv`` (per clip its class, SNR, level and
    band limit, 0 for a full-band clip)."""
    for folder in ("audio", "audio_clean", "meta"):
        os.makedirs(os.path.join(out, folder), exist_ok=True)
    clip_samples = max(1, int(round(duration * sample_rate)))
    meta, events, distractors, clips = [], [], [], []
    index = 0
    for target, (name, count) in enumerate(zip(classes, counts)):
        quantiles = _hard_stratified(seed, target, count)
        for j in range(count):
            fold = (j + target) % ESC50_FOLDS + 1
            clip_id = ESC50_CLIP_ID_BASE + index
            filename = f"{fold}-{clip_id}-A-{target}.wav"
            rng = np.random.default_rng(
                [seed, _LAYOUT_STREAM["esc50"], _HARD_STREAM, index]
            )
            cutoff = None
            if quantiles[j][2] < HARD_BAND_LIMIT_SHARE:
                cutoff = float(rng.uniform(*HARD_BAND_LIMIT_HZ))
            mixture, clean, targets, extra = render_hard_clip(
                rng,
                clip_samples,
                sample_rate,
                name,
                classes,
                quantiles[j],
                cutoff=cutoff,
                **knobs,
            )
            _write_wav(
                os.path.join(out, "audio", filename), mixture, sample_rate
            )
            _write_wav(
                os.path.join(out, "audio_clean", filename), clean, sample_rate
            )
            meta.append([filename, fold, target, name, "False", clip_id, "A"])
            events += [_event_row(filename, event) for event in targets]
            distractors += [_event_row(filename, event) for event in extra]
            level = 20 * math.log10(max(np.sqrt(np.mean(mixture**2)), 1e-12))
            clips.append(
                [
                    filename,
                    name,
                    f"{targets[0]['snr_db']:.3f}",
                    f"{level:.3f}",
                    f"{cutoff or 0.0:.1f}",
                ]
            )
            index += 1
            progress.update()
    for rows in (meta, events, distractors, clips):
        rows.sort()
    _write_csv(os.path.join(out, "meta", "events.csv"), _EVENTS_COLUMNS, events)
    _write_csv(
        os.path.join(out, "meta", "distractors.csv"),
        _EVENTS_COLUMNS,
        distractors,
    )
    _write_csv(
        os.path.join(out, "meta", "clips.csv"), _HARD_CLIPS_COLUMNS, clips
    )
    _write_csv(os.path.join(out, "meta", "esc50.csv"), _ESC50_COLUMNS, meta)
    return len(meta), list(classes)


_HARD_CLIPS_COLUMNS = [
    "filename",
    "category",
    "snr_db",
    "level_dbfs",
    "band_limit_hz",
]


def generate_dataset(
    out_dir,
    layout="esc50",
    clips_per_class=None,
    duration=None,
    sample_rate=16000,
    seed=0,
    n_classes=10,
    show_progress=True,
    sonyc_version="2.3",
    snr_db_range=None,
    distractor_prob=None,
    distractor_db_below=None,
    level_dbfs_range=None,
    variant="default",
    class_weights=None,
):
    """Write a synthetic dataset in the layout of ESC-50, UrbanSound8K or SONYC-UST, with ground truth.

    Arguments
    ---------
    out_dir : str, created if missing; existing files of the same names are overwritten.
    layout : "esc50" | "us8k" | "sonyc".
    clips_per_class : int, clips per class (SONYC: clips whose first event is of each class; hard variant: the
        mean, ``clips_per_class * n_classes`` clips shared by ``class_weights``); None: 40, hard variant
        ``HARD_CLIPS_PER_CLASS``.
    duration : float, clip length in seconds; None: 2.0, or 10.0 for SONYC. US8K makes some clips shorter.
    sample_rate : int, Hz (US8K draws each file's rate from ``US8K_SAMPLE_RATES``; events stay below
        ``NYQUIST_SHARE`` times the lowest rate used).
    seed : int >= 0.
    n_classes : int, the first ``n_classes`` of ``CLASSES`` (SONYC always uses the first 8; the hard variant
        ``HARD_CLASSES``).
    sonyc_version : "2.3" (audio shards ``audio-<k>/``, splits train / validate / test) or "1"
        (``train/`` and ``validate/`` folders, no spatio-temporal columns).
    snr_db_range, distractor_prob, distractor_db_below, level_dbfs_range : difficulty and level knobs; None: the
        module defaults (``SNR_DB_RANGE``...; hard variant ``HARD_SNR_DB_RANGE``...).
    variant : "default" | "hard" (ESC-50 layout only; see ``HARD_CLASSES``): sounds that fill the clip, a share
        ``HARD_BAND_LIMIT_SHARE`` of band-limited clips, unequal class sizes, few clips per class; also writes
        ``meta/clips.csv`` (per clip: category, snr_db, level_dbfs, band_limit_hz, 0 for full band).
    class_weights : hard variant only: relative class sizes ``[n_classes]``; None: :func:`hard_class_weights`
        (the first class half the set). Every class gets at least ``HARD_MIN_CLIPS`` clips (one in every fold).

    Returns
    -------
    dict: ``layout``, ``n_clips``, ``classes`` (label names as the layout's metadata writes them),
    ``out_dir``, ``seconds``; the hard variant adds ``variant`` and ``class_counts``.
    """
    started = time.perf_counter()
    if layout not in LAYOUTS:
        raise ValueError(
            f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}"
        )
    if variant not in VARIANTS:
        raise ValueError(
            f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}"
        )
    defaults = _VARIANT_DEFAULTS[variant]
    clips_per_class = (
        defaults["clips_per_class"]
        if clips_per_class is None
        else clips_per_class
    )
    snr_db_range = (
        defaults["snr_db_range"] if snr_db_range is None else snr_db_range
    )
    distractor_prob = (
        defaults["distractor_prob"]
        if distractor_prob is None
        else distractor_prob
    )
    distractor_db_below = (
        defaults["distractor_db_below"]
        if distractor_db_below is None
        else distractor_db_below
    )
    level_dbfs_range = (
        defaults["level_dbfs_range"]
        if level_dbfs_range is None
        else level_dbfs_range
    )
    if variant == "default" and class_weights is not None:
        raise ValueError(
            "class_weights is an option of the hard variant (variant='hard')"
        )
    duration = (
        DEFAULT_DURATION_S[layout] if duration is None else float(duration)
    )
    if not duration > 0 or not math.isfinite(duration):
        raise ValueError(
            f"duration must be a positive number of seconds, got {duration}"
        )
    if int(clips_per_class) < 1:
        raise ValueError(
            f"clips_per_class must be at least 1, got {clips_per_class}"
        )
    if int(sample_rate) < 2000:
        raise ValueError(
            f"sample_rate must be at least 2000 Hz, got {sample_rate}"
        )
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    if variant == "hard":
        classes, counts = _hard_classes(
            layout, n_classes, clips_per_class, sample_rate, class_weights
        )
    elif layout == "sonyc":
        if str(sonyc_version) not in SONYC_SPLITS:
            raise ValueError(
                f"sonyc_version must be one of {', '.join(SONYC_SPLITS)}, got {sonyc_version!r}"
            )
        classes = CLASSES[:SONYC_N_COARSE]
    else:
        if not 2 <= int(n_classes) <= len(CLASSES):
            raise ValueError(
                f"n_classes must be between 2 and {len(CLASSES)}, got {n_classes}"
            )
        classes = CLASSES[: int(n_classes)]
    if (
        len(snr_db_range) != 2
        or len(distractor_db_below) != 2
        or len(level_dbfs_range) != 2
    ):
        raise ValueError(
            "snr_db_range, distractor_db_below and level_dbfs_range must be (low, high) pairs"
        )
    if not level_dbfs_range[0] <= level_dbfs_range[1] < 0:
        raise ValueError(
            f"level_dbfs_range must be an increasing pair of negative dB values, got {level_dbfs_range}"
        )
    knobs = {
        "snr_db_range": tuple(snr_db_range),
        "distractor_prob": float(distractor_prob),
        "distractor_db_below": tuple(distractor_db_below),
        "level_dbfs_range": tuple(level_dbfs_range),
    }
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    clips_per_class, sample_rate, seed = (
        int(clips_per_class),
        int(sample_rate),
        int(seed),
    )
    total = clips_per_class * len(classes)
    with tqdm(
        total=total,
        desc=f"synthetic {layout}",
        unit="clip",
        disable=not show_progress,
    ) as progress:
        args = (
            out_dir,
            classes,
            clips_per_class,
            duration,
            sample_rate,
            seed,
            progress,
            knobs,
        )
        if variant == "hard":
            n_clips, labels = _generate_esc50_hard(
                out_dir, classes, counts, *args[3:]
            )
        elif layout == "esc50":
            n_clips, labels = _generate_esc50(*args)
        elif layout == "us8k":
            n_clips, labels = _generate_us8k(*args)
        else:
            n_clips, labels = _generate_sonyc(*args, version=str(sonyc_version))
    summary = {
        "layout": layout,
        "n_clips": n_clips,
        "classes": labels,
        "out_dir": out_dir,
        "seconds": time.perf_counter() - started,
    }
    if variant == "hard":
        summary.update(variant=variant, class_counts=counts)
    logger.debug(
        "synthetic %s set: %d clips in %s (%.1f s)",
        layout,
        n_clips,
        out_dir,
        summary["seconds"],
    )
    return summary


def _hard_classes(
    layout, n_classes, clips_per_class, sample_rate, class_weights
):
    """The hard variant's classes and clips per class, after checking its arguments (ValueError)."""
    if layout != "esc50":
        raise ValueError(
            f"the hard variant is written in the ESC-50 layout only, got layout {layout!r}"
        )
    if int(sample_rate) < HARD_MIN_SAMPLE_RATE:
        raise ValueError(
            f"the hard variant band-limits clips to ~4 kHz: sample_rate must be at least "
            f"{HARD_MIN_SAMPLE_RATE} Hz, got {sample_rate}"
        )
    if not 2 <= int(n_classes) <= len(HARD_CLASSES):
        raise ValueError(
            f"n_classes must be between 2 and {len(HARD_CLASSES)}, got {n_classes}"
        )
    n_classes = int(n_classes)
    weights = (
        hard_class_weights(n_classes)
        if class_weights is None
        else [float(w) for w in class_weights]
    )
    if len(weights) != n_classes or not all(
        w > 0 and math.isfinite(w) for w in weights
    ):
        raise ValueError(
            f"class_weights must be {n_classes} positive numbers (one per class), got {class_weights}"
        )
    total = int(clips_per_class) * n_classes
    if total < HARD_MIN_CLIPS * n_classes:
        raise ValueError(
            f"the hard variant needs at least {HARD_MIN_CLIPS} clips per class (one in every fold): "
            f"clips_per_class must be at least {HARD_MIN_CLIPS}, got {clips_per_class}"
        )
    return HARD_CLASSES[:n_classes], class_counts(total, weights)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", choices=LAYOUTS, default="esc50")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--clips_per_class",
        type=int,
        default=None,
        help=f"default 40; hard variant {HARD_CLIPS_PER_CLASS} (the mean; classes unequal)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds (default 2, SONYC 10)",
    )
    parser.add_argument("--sample_rate", type=int, default=16000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n_classes", type=int, default=10)
    parser.add_argument(
        "--sonyc_version", choices=sorted(SONYC_SPLITS), default="2.3"
    )
    parser.add_argument(
        "--variant",
        choices=VARIANTS,
        default="default",
        help="hard: sounds that fill the clip, band-limited clips, unequal classes (ESC-50 layout)",
    )
    parser.add_argument(
        "--class_weights",
        default=None,
        help="hard variant: relative class sizes, comma-separated (default: the first class half)",
    )
    parser.add_argument(
        "--no_progress", action="store_true", help="no progress bar"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        summary = generate_dataset(
            args.out,
            layout=args.layout,
            clips_per_class=args.clips_per_class,
            duration=args.duration,
            sample_rate=args.sample_rate,
            seed=args.seed,
            n_classes=args.n_classes,
            show_progress=not args.no_progress,
            sonyc_version=args.sonyc_version,
            variant=args.variant,
            class_weights=_parse_weights(args.class_weights),
        )
    except (ValueError, OSError) as err:
        logger.error("error: %s", err)
        return 2
    logger.info("synthetic set: %s", json.dumps(summary))
    return 0


def _parse_weights(text):
    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(
            f"--class_weights must be comma-separated numbers, got {text!r}"
        ) from None


if __name__ == "__main__":
    sys.exit(main())
