"""The synthetic set: procedurally generated sound events with ground truth, in real datasets' layouts.

Each clip is coloured background noise plus the target event(s) of its class(es) at a random onset,
duration, level and pitch inside class-specific ranges (``CLASS_SPECS``); in part of the clips a quieter
distractor event of another class is added. The clip is written in the on-disk layout of ESC-50,
UrbanSound8K or SONYC-UST (see ``shared/design/DATASETS.md``) so the real preparation code reads it
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

Command line::

    python -m interpretability.data.synthetic --layout esc50 --out data/synthetic --clips_per_class 40
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
_DATASET_STREAM = 2**32 - 1  # clip indices never reach it: the stream of dataset-level draws

# ---- difficulty knobs -------------------------------------------------------------------------------------
SNR_DB_RANGE = (0.0, 15.0)  # target event energy to background energy, both over the whole clip
DISTRACTOR_PROB = 0.5  # share of ESC-50 / US8K clips with a distractor event of another class
DISTRACTOR_DB_BELOW = (6.0, 12.0)  # distractor level below the target's
LEVEL_DBFS_RANGE = (-42.0, -32.0)  # each mixture is scaled to an RMS level drawn from this range (dB full scale)
BACKGROUND_COLOUR_CONCENTRATION = 1.0  # Dirichlet weights of white / pink / brown background noise
MIN_EVENT_S = 0.05  # shortest event (unless the clip is shorter)
FADE_S = (0.005, 0.03)  # raised-cosine fade in / out of every event (impacts have their own attack)
MAX_PEAK = 0.98  # a mixture whose peak would exceed this at its drawn level is turned down instead of clipped
NYQUIST_SHARE = 0.45  # every event stays below this share of the (lowest) sample rate
# A tone's band in events.csv is its instantaneous-frequency range widened on both sides by
# max(TONAL_MARGIN_HZ, TONAL_MARGIN_REL * f): the spectral width an enveloped tone really has.
TONAL_MARGIN_HZ = 20.0
TONAL_MARGIN_REL = 0.02

# Class-specific ranges. Durations are shares of the clip length; frequencies in Hz (log-uniform draws),
# rates in Hz. Ranges of different classes overlap on purpose: classes differ in shape, not in band.
CLASS_SPECS = {
    "pure_tone": {"duration": (0.3, 0.8), "freq": (250.0, 4000.0), "fine_split_hz": 1000.0},
    "rising_chirp": {"duration": (0.3, 0.8), "start_freq": (200.0, 2500.0), "sweep_ratio": (2.0, 4.0),
                     "fine_split_hz": 1100.0},
    "falling_chirp": {"duration": (0.3, 0.8), "start_freq": (200.0, 2500.0), "sweep_ratio": (2.0, 4.0),
                      "fine_split_hz": 1100.0},
    "noise_burst": {"duration": (0.3, 0.8), "center_freq": (400.0, 5000.0), "bandwidth_octaves": (0.4, 2.0),
                    "fine_split_hz": 1400.0},
    "click_train": {"duration": (0.3, 0.8), "rate_hz": (4.0, 30.0), "band_low": (150.0, 1000.0),
                    "band_high": (2500.0, 7000.0), "click_s": 0.008, "fine_split_hz": 1300.0},
    "harmonic_stack": {"duration": (0.3, 0.8), "f0": (100.0, 600.0), "n_harmonics": (3, 8),
                       "rolloff": (0.5, 1.5), "fine_split_hz": 600.0},
    "am_tone": {"duration": (0.3, 0.8), "freq": (250.0, 4000.0), "mod_rate_hz": (4.0, 25.0),
                "mod_depth": (0.8, 1.0), "fine_split_hz": 1000.0},
    "fm_tone": {"duration": (0.3, 0.8), "freq": (250.0, 4000.0), "mod_rate_hz": (3.0, 12.0),
                "deviation": (0.06, 0.15), "fine_split_hz": 1000.0},
    "low_rumble": {"duration": (0.3, 0.8), "band_low": (20.0, 40.0), "cutoff": (100.0, 400.0),
                   "mod_rate_hz": (0.3, 3.0), "mod_depth": (0.2, 0.7), "fine_split_hz": 90.0},
    "impact": {"duration": (0.1, 0.3), "decay_share": (0.08, 0.25), "band_low": (60.0, 400.0),
               "band_high": (1500.0, 7000.0), "n_modes": (1, 3), "fade": (0.0005, 0.002),
               "fine_split_hz": 900.0},
    "warble": {"duration": (0.3, 0.8), "freq": (400.0, 3000.0), "ratio": (1.12, 1.6), "rate_hz": (3.0, 12.0),
               "fine_split_hz": 1200.0},
    "pulsed_noise": {"duration": (0.3, 0.8), "center_freq": (400.0, 5000.0), "bandwidth_octaves": (0.4, 2.0),
                     "rate_hz": (2.0, 8.0), "duty": (0.3, 0.7), "edge_s": 0.005, "fine_split_hz": 1400.0},
    "siren": {"duration": (0.4, 0.8), "low_freq": (400.0, 1500.0), "ratio": (1.4, 2.5), "cycles": (1.5, 4.0),
              "fine_split_hz": 1100.0},
    "buzz": {"duration": (0.3, 0.8), "f0": (60.0, 200.0), "top_freq": (1500.0, 5000.0), "fine_split_hz": 500.0},
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
SONYC_SPLITS = {"2.3": (("train", 0.6), ("validate", 0.2), ("test", 0.2)),
                "1": (("train", 0.75), ("validate", 0.25))}
SONYC_CLIPS_PER_SHARD = 8
SONYC_VOLUNTEERS_PER_CLIP = 3
SONYC_N_VOLUNTEERS = 60
SONYC_N_TEAM = 3
SONYC_N_SENSORS = 12
SONYC_TEAM_SHARE = 0.1  # share of validate / test clips that also get a team member's row
SONYC_MISS_PROB = 0.15  # a volunteer misses a present class
SONYC_FALSE_ALARM_PROB = 0.05  # a volunteer marks an absent class
SONYC_UNCERTAIN_FINE_PROB = 0.15  # a volunteer marks the "X" (other / unknown) fine class instead
SONYC_GROUP_UNANNOTATED_PROB = 0.1  # a volunteer leaves a class's fine columns at -1
SONYC_COARSE_UNANNOTATED_PROB = 0.02  # ... or the whole class, coarse column included
SONYC_TEAM_MISS_PROB = 0.05
SONYC_BOROUGHS = (1, 3, 4)
SONYC_PROXIMITY_NOTSURE_PROB = 0.2

CLEAN_BY_CLASS = "by_class"  # SONYC layout: audio_clean/by_class/<class>/<file> holds each class's events alone
_EVENTS_COLUMNS = ["filename", "category", "onset_s", "offset_s", "f_low_hz", "f_high_hz"]
_ESC50_COLUMNS = ["filename", "fold", "target", "category", "esc10", "src_file", "take"]
_US8K_COLUMNS = ["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"]
_SONYC_ID_COLUMNS = ["split", "sensor_id", "audio_filename", "annotator_id", "borough", "block", "latitude",
                     "longitude", "year", "week", "day", "hour"]


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
    slope = 2 * np.pi * rate * max(np.sin(np.pi * duty), 1e-3)  # d cos / dt at the threshold
    gate = np.clip((cosine - threshold) / (slope * edge_s) + 0.5, 0.0, 1.0)
    return gate * gate * (3 - 2 * gate)


def _fade(n, fade_in, fade_out):
    """Envelope ``[n]``: raised-cosine ramps of ``fade_in`` / ``fade_out`` samples, 0 at both ends."""
    envelope = np.ones(n)
    fade_in = max(1, min(fade_in, n // 2))
    fade_out = max(1, min(fade_out, n // 2))
    envelope[:fade_in] = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade_in) / fade_in)
    envelope[n - fade_out:] = (0.5 - 0.5 * np.cos(np.pi * np.arange(fade_out) / fade_out))[::-1]
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
    kernel = (2 * high / sr) * np.sinc(2 * high / sr * taps) - (2 * low / sr) * np.sinc(2 * low / sr * taps)
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
    wave = np.fft.irfft(np.fft.rfft(impulses, size) * np.fft.rfft(kernel, size), size)[:n]
    return wave, low, high


def _harmonic_stack(rng, n, sr, fmax, spec):
    t = np.arange(n) / sr
    f0 = min(_log_uniform(rng, *spec["f0"]), fmax / 2)
    count = int(rng.integers(spec["n_harmonics"][0], spec["n_harmonics"][1] + 1))
    count = max(2, min(count, int(fmax // f0)))
    rolloff = rng.uniform(*spec["rolloff"])
    phases = rng.uniform(0, 2 * np.pi, count)
    orders = np.arange(1, count + 1)
    wave = np.zeros(n)
    for order, phase in zip(orders, phases):
        wave += order ** -rolloff * np.sin(2 * np.pi * order * f0 * t + phase)
    return wave, *_tonal_band(f0, count * f0)


def _am_tone(rng, n, sr, fmax, spec):
    t = np.arange(n) / sr
    rate = rng.uniform(*spec["mod_rate_hz"])
    freq = min(_log_uniform(rng, *spec["freq"]), fmax - rate)
    depth = rng.uniform(*spec["mod_depth"])
    envelope = 1 + depth * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
    return envelope * np.sin(_phase(np.full(n, freq), sr, rng)), *_tonal_band(freq - rate, freq + rate)


def _fm_tone(rng, n, sr, fmax, spec):
    t = np.arange(n) / sr
    deviation = rng.uniform(*spec["deviation"])
    freq = min(_log_uniform(rng, *spec["freq"]), fmax / (1 + deviation))
    rate = rng.uniform(*spec["mod_rate_hz"])
    track = freq * (1 + deviation * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi)))
    return np.sin(_phase(track, sr, rng)), *_tonal_band(freq * (1 - deviation), freq * (1 + deviation))


def _low_rumble(rng, n, sr, fmax, spec):
    t = np.arange(n) / sr
    low = rng.uniform(*spec["band_low"])
    high = min(_log_uniform(rng, *spec["cutoff"]), fmax)
    depth = rng.uniform(*spec["mod_depth"])
    rate = rng.uniform(*spec["mod_rate_hz"])
    envelope = 1 + depth * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
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
        ring = np.exp(-t / (decay * rng.uniform(1.0, 2.0))) * np.sin(_phase(np.full(n, mode_freq), sr, rng))
        wave += rng.uniform(0.3, 1.0) * ring / max(np.sqrt(np.mean(ring * ring)), 1e-12)
    return wave, low, high


def _warble(rng, n, sr, fmax, spec):
    t = np.arange(n) / sr
    ratio = rng.uniform(*spec["ratio"])
    low = min(_log_uniform(rng, *spec["freq"]), fmax / ratio)
    high = low * ratio
    rate = rng.uniform(*spec["rate_hz"])
    gate = _smooth_gate(t, rate, 0.5, rng.uniform(0, 2 * np.pi), 0.1 / rate)
    return np.sin(_phase(low + (high - low) * gate, sr, rng)), *_tonal_band(low, high)


def _pulsed_noise(rng, n, sr, fmax, spec):
    t = np.arange(n) / sr
    low, high = _noise_band(rng, fmax, spec)
    rate = rng.uniform(*spec["rate_hz"])
    duty = rng.uniform(*spec["duty"])
    gate = _smooth_gate(t, rate, duty, rng.uniform(0, 2 * np.pi), spec["edge_s"])
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
    wave = np.where(np.abs(half) < 1e-9, float(count), np.sin((count + 0.5) * phase) / (2 * safe) - 0.5)
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


def render_clip(rng, clip_samples, sample_rate, targets, distractor_pool=(), fmax=None,
                snr_db_range=SNR_DB_RANGE, distractor_prob=DISTRACTOR_PROB,
                distractor_db_below=DISTRACTOR_DB_BELOW, level_dbfs_range=LEVEL_DBFS_RANGE, quantiles=None):
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
    mixture = _background(rng, clip_samples, sample_rate)  # unit RMS over the clip
    clean = np.zeros(clip_samples)
    target_events = []
    snr_quantile, level_quantile = (None, None) if quantiles is None else quantiles
    for name in targets:
        event = make_event(rng, name, clip_samples, sample_rate, fmax)
        quantile = rng.uniform() if snr_quantile is None or target_events else snr_quantile
        event["snr_db"] = float(snr_db_range[0] + (snr_db_range[1] - snr_db_range[0]) * quantile)
        _place(clean, event, event["snr_db"], clip_samples)
        target_events.append(event)
    distractor_events = []
    pool = [name for name in distractor_pool if name not in targets]
    if rng.random() < distractor_prob and pool:
        event = make_event(rng, pool[int(rng.integers(len(pool)))], clip_samples, sample_rate, fmax)
        event["snr_db"] = target_events[0]["snr_db"] - float(rng.uniform(*distractor_db_below))
        _place(mixture, event, event["snr_db"], clip_samples)
        distractor_events.append(event)
    mixture += clean
    quantile = rng.uniform() if level_quantile is None else float(level_quantile)
    low, high = level_dbfs_range
    level = 10 ** ((low + (high - low) * quantile) / 20)
    scale = level / max(np.sqrt(np.mean(mixture * mixture)), 1e-12)
    peak = scale * np.max(np.abs(mixture))
    if peak > MAX_PEAK:  # rare (impulsive events at a high level): turned down rather than clipped
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
    signal[event["start"]:event["start"] + len(wave)] += event["gain"] * wave


def event_signal(event, clip_samples):
    """The event alone as it is in the mixture, ``[clip_samples]`` (after :func:`render_clip`)."""
    signal = np.zeros(clip_samples)
    signal[event["start"]:event["start"] + len(event["wave"])] = event["gain"] * event["wave"]
    return signal


# ---- writing ----------------------------------------------------------------------------------------------
def _write_wav(path, data, sample_rate, subtype="PCM_16"):
    """Write ``data [samples]`` or ``[samples, channels]`` atomically and reproducibly (no PEAK timestamp).

    Encoded in memory first: libsndfile's close on a real file calls fsync, which costs more than the encoding.
    """
    buffer = io.BytesIO()
    channels = 1 if data.ndim == 1 else data.shape[1]
    with sf.SoundFile(buffer, "w", int(sample_rate), channels, subtype=subtype, format="WAV") as handle:
        try:  # libsndfile stamps float files' PEAK chunk with the wall-clock time unless told not to
            sf._snd.sf_command(handle._file, 0x1050, sf._ffi.NULL, 0)  # SFC_SET_ADD_PEAK_CHUNK, SF_FALSE
        except AttributeError:
            pass
        handle.write(data.astype(np.float32))
    encoded = bytearray(buffer.getvalue())
    peak_chunk = encoded.find(b"PEAK", 0, 256)
    if peak_chunk >= 0:  # the command above was not available: zero the timestamp instead
        encoded[peak_chunk + 12:peak_chunk + 16] = bytes(4)
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
    return [filename, category or event["category"], f"{event['onset_s']:.6f}", f"{event['offset_s']:.6f}",
            f"{event['f_low_hz']:.2f}", f"{event['f_high_hz']:.2f}"]


def _clip_rng(seed, layout, index):
    return np.random.default_rng([seed, _LAYOUT_STREAM[layout], index])


def _stratified_quantiles(seed, layout, class_index, count):
    """``[count]`` pairs of quantiles (SNR, level) for the clips of one class: for each, one draw in each of
    ``count`` equal strata, in a random order, so every class spans both ranges evenly, not only on average."""
    rng = np.random.default_rng([seed, _LAYOUT_STREAM[layout], _DATASET_STREAM, class_index])
    draws = [(rng.permutation(count) + rng.uniform(size=count)) / count for _ in range(2)]
    return list(zip(*draws))


# ---- layouts ----------------------------------------------------------------------------------------------
def _generate_esc50(out, classes, clips_per_class, duration, sample_rate, seed, progress, knobs):
    for folder in ("audio", "audio_clean", "meta"):
        os.makedirs(os.path.join(out, folder), exist_ok=True)
    clip_samples = max(1, int(round(duration * sample_rate)))
    meta, events, distractors = [], [], []
    for target, name in enumerate(classes):
        quantiles = _stratified_quantiles(seed, "esc50", target, clips_per_class)
        for j in range(clips_per_class):
            index = target * clips_per_class + j
            fold = (j + target) % ESC50_FOLDS + 1
            clip_id = ESC50_CLIP_ID_BASE + index
            filename = f"{fold}-{clip_id}-A-{target}.wav"
            rng = _clip_rng(seed, "esc50", index)
            mixture, clean, targets, extra = render_clip(rng, clip_samples, sample_rate, [name], classes,
                                                         quantiles=quantiles[j], **knobs)
            _write_wav(os.path.join(out, "audio", filename), mixture, sample_rate)
            _write_wav(os.path.join(out, "audio_clean", filename), clean, sample_rate)
            meta.append([filename, fold, target, name, "False", clip_id, "A"])
            events += [_event_row(filename, event) for event in targets]
            distractors += [_event_row(filename, event) for event in extra]
            progress.update()
    meta.sort()
    events.sort()
    distractors.sort()
    _write_csv(os.path.join(out, "meta", "events.csv"), _EVENTS_COLUMNS, events)
    _write_csv(os.path.join(out, "meta", "distractors.csv"), _EVENTS_COLUMNS, distractors)
    _write_csv(os.path.join(out, "meta", "esc50.csv"), _ESC50_COLUMNS, meta)
    return len(meta), list(classes)


def _generate_us8k(out, classes, clips_per_class, duration, sample_rate, seed, progress, knobs):
    os.makedirs(os.path.join(out, "metadata"), exist_ok=True)
    os.makedirs(os.path.join(out, "meta"), exist_ok=True)
    for fold in range(1, US8K_FOLDS + 1):
        os.makedirs(os.path.join(out, "audio", f"fold{fold}"), exist_ok=True)
        os.makedirs(os.path.join(out, "audio_clean", f"fold{fold}"), exist_ok=True)
    fmax = NYQUIST_SHARE * min(min(US8K_SAMPLE_RATES), sample_rate)
    recordings = {}  # (class, fold) -> clips so far, to group slices of one "source recording"
    next_fs_id = {}
    meta, events, distractors = [], [], []
    fs_counter = 0
    for class_id, name in enumerate(classes):
        quantiles = _stratified_quantiles(seed, "us8k", class_id, clips_per_class)
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
            file_rate = int(US8K_SAMPLE_RATES[int(rng.integers(len(US8K_SAMPLE_RATES)))])
            channels = int(US8K_CHANNELS[int(rng.integers(len(US8K_CHANNELS)))])
            subtype = US8K_SUBTYPES[int(rng.integers(len(US8K_SUBTYPES)))]
            length_s = duration
            if rng.random() < US8K_SHORT_PROB:
                length_s = duration * rng.uniform(*US8K_SHORT_SHARE)
            clip_samples = max(1, int(round(length_s * file_rate)))
            mixture, clean, targets, extra = render_clip(rng, clip_samples, file_rate, [name], classes,
                                                         fmax=fmax, quantiles=quantiles[j], **knobs)
            if channels == 2:
                gains = rng.uniform(0.7, 1.0, 2)
                mixture, clean = mixture[:, None] * gains, clean[:, None] * gains
            filename = f"{fs_id}-{class_id}-0-{slice_id}.wav"
            relative = f"fold{fold}/{filename}"
            _write_wav(os.path.join(out, "audio", relative), mixture, file_rate, subtype)
            _write_wav(os.path.join(out, "audio_clean", relative), clean, file_rate, subtype)
            start = slice_id * duration + float(rng.uniform(0, 0.5))
            salience = 1 if targets[0]["snr_db"] >= np.mean(knobs["snr_db_range"]) else 2
            meta.append([filename, fs_id, f"{start:.6f}", f"{start + clip_samples / file_rate:.6f}", salience,
                         fold, class_id, name])
            events += [_event_row(relative, event) for event in targets]
            distractors += [_event_row(relative, event) for event in extra]
            progress.update()
    meta.sort(key=lambda row: (row[5], row[0]))
    events.sort()
    distractors.sort()
    _write_csv(os.path.join(out, "meta", "events.csv"), _EVENTS_COLUMNS, events)
    _write_csv(os.path.join(out, "meta", "distractors.csv"), _EVENTS_COLUMNS, distractors)
    _write_csv(os.path.join(out, "metadata", "UrbanSound8K.csv"), _US8K_COLUMNS, meta)
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
        fine[c] = {1: f"low-{hyphen}", 2: f"high-{hyphen}", "X": f"other-unknown-{hyphen}"}
    return coarse, fine


def _sonyc_columns(coarse, fine):
    fine_names = [f"{c}-{f}_{fine[c][f]}" for c in coarse for f in fine[c]]
    return (_SONYC_ID_COLUMNS + [f"{name}_presence" for name in fine_names]
            + [f"{name}_proximity" for name in fine_names]
            + [f"{c}_{coarse[c]}_presence" for c in coarse])


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
        elif kind == "team" and marked is not None and rng.random() < SONYC_TEAM_MISS_PROB:
            marked = None
        group = [1 if key == marked else 0 for key in keys]
        near = [("-1" if value == 0 else _proximity(rng, proximity_truth.get(c))) for value in group]
        coarse_value = 1 if marked is not None else 0
        if kind == "verified":
            near = ["-1"] * len(keys)
        if kind == "volunteer":
            if rng.random() < SONYC_COARSE_UNANNOTATED_PROB:
                group, near, coarse_value = [-1] * len(keys), ["-1"] * len(keys), -1
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


def _generate_sonyc(out, classes, clips_per_class, duration, sample_rate, seed, progress, knobs, version):
    coarse, fine = sonyc_taxonomy(classes)
    n_clips = clips_per_class * len(classes)
    dataset_rng = np.random.default_rng([seed, _LAYOUT_STREAM["sonyc"], _DATASET_STREAM])
    splits = _sonyc_splits(n_clips, version, dataset_rng)
    evaluated = [i for i in range(n_clips) if splits[i] != "train"]
    n_team = int(math.ceil(SONYC_TEAM_SHARE * len(evaluated)))
    team_clips = set(dataset_rng.choice(evaluated, n_team, replace=False).tolist()) if evaluated else set()
    sensors = [
        [int(dataset_rng.integers(1000)), int(dataset_rng.choice(SONYC_BOROUGHS)), int(dataset_rng.integers(100, 2000)),
         f"{dataset_rng.uniform(40.70, 40.80):.6f}", f"{dataset_rng.uniform(-74.01, -73.95):.6f}"]
        for _ in range(SONYC_N_SENSORS)
    ]
    os.makedirs(os.path.join(out, "meta"), exist_ok=True)
    for name in coarse.values():
        os.makedirs(os.path.join(out, "audio_clean", CLEAN_BY_CLASS, name), exist_ok=True)
    clip_samples = max(1, int(round(duration * sample_rate)))
    quantiles = [_stratified_quantiles(seed, "sonyc", c, clips_per_class) for c in range(len(classes))]
    mid_snr = float(np.mean(knobs["snr_db_range"]))
    rows, events = [], []
    for index in range(n_clips):
        rng = _clip_rng(seed, "sonyc", index)
        n_events = 1 + int(rng.choice(len(SONYC_EXTRA_EVENTS_PROBS), p=SONYC_EXTRA_EVENTS_PROBS))
        primary = index % len(classes)
        others = [c for c in range(len(classes)) if c != primary]
        chosen = [primary] + rng.choice(others, n_events - 1, replace=False).tolist()
        mixture, clean, targets, _ = render_clip(
            rng, clip_samples, sample_rate, [classes[c] for c in chosen], (), quantiles=quantiles[primary][
                index // len(classes)], **{**knobs, "distractor_prob": 0.0})
        split = str(splits[index])
        filename = f"{split}_{index:05d}.wav"
        folder = split if version == "1" else f"audio-{index // SONYC_CLIPS_PER_SHARD}"
        os.makedirs(os.path.join(out, folder), exist_ok=True)
        _write_wav(os.path.join(out, folder, filename), mixture, sample_rate)
        _write_wav(os.path.join(out, "audio_clean", filename), clean, sample_rate)
        truth, near = {}, {}
        for c, event in zip(chosen, targets):
            _write_wav(os.path.join(out, "audio_clean", CLEAN_BY_CLASS, coarse[c + 1], filename),
                       event_signal(event, clip_samples), sample_rate)
            centre = math.sqrt(max(event["f_low_hz"], 1.0) * event["f_high_hz"])
            truth[c + 1] = 1 if centre < CLASS_SPECS[classes[c]]["fine_split_hz"] else 2
            near[c + 1] = event["snr_db"] >= mid_snr
            events.append(_event_row(filename, event, category=coarse[c + 1]))
        sensor = sensors[int(rng.integers(len(sensors)))]
        when = [int(rng.integers(2016, 2020)), int(rng.integers(1, 53)), int(rng.integers(7)), int(rng.integers(24))]
        annotators = [("volunteer", int(a)) for a in
                      1 + rng.choice(SONYC_N_VOLUNTEERS, SONYC_VOLUNTEERS_PER_CLIP, replace=False)]
        if index in team_clips:
            annotators.append(("team", -int(rng.integers(1, SONYC_N_TEAM + 1))))
        if split != "train":
            annotators.append(("verified", 0))
        for kind, annotator in annotators:
            ids = [split, sensor[0], filename, annotator, sensor[1], sensor[2], sensor[3], sensor[4], *when]
            if version == "1":
                ids = [split, sensor[0], filename, annotator]
            rows.append(ids + _sonyc_row(rng, truth, near, coarse, fine, kind))
        progress.update()
    columns = _sonyc_columns(coarse, fine)
    if version == "1":  # v1 has no spatio-temporal metadata
        columns = columns[:4] + columns[len(_SONYC_ID_COLUMNS):]
    events.sort()
    _write_text(os.path.join(out, "dcase-ust-taxonomy.yaml"), _taxonomy_yaml(coarse, fine))
    _write_csv(os.path.join(out, "meta", "events.csv"), _EVENTS_COLUMNS, events)
    _write_csv(os.path.join(out, "annotations.csv"), columns, rows)
    return n_clips, [coarse[c] for c in coarse]


def _taxonomy_yaml(coarse, fine):
    lines = ["coarse:"] + [f"  {c}: {name}" for c, name in coarse.items()] + ["fine:"]
    for c, names in fine.items():
        lines.append(f"  {c}:")
        lines += [f"    {key}: {name}" for key, name in names.items()]
    return "\n".join(lines) + "\n"


def generate_dataset(out_dir, layout="esc50", clips_per_class=40, duration=None, sample_rate=16000, seed=0,
                     n_classes=10, show_progress=True, sonyc_version="2.3", snr_db_range=SNR_DB_RANGE,
                     distractor_prob=DISTRACTOR_PROB, distractor_db_below=DISTRACTOR_DB_BELOW,
                     level_dbfs_range=LEVEL_DBFS_RANGE):
    """Write a synthetic dataset in the layout of ESC-50, UrbanSound8K or SONYC-UST, with ground truth.

    Arguments
    ---------
    out_dir : str, created if missing; existing files of the same names are overwritten.
    layout : "esc50" | "us8k" | "sonyc".
    clips_per_class : int, clips per class (SONYC: clips whose first event is of each class).
    duration : float, clip length in seconds; None: 2.0, or 10.0 for SONYC. US8K makes some clips shorter.
    sample_rate : int, Hz (US8K draws each file's rate from ``US8K_SAMPLE_RATES``; events stay below
        ``NYQUIST_SHARE`` times the lowest rate used).
    seed : int >= 0.
    n_classes : int, the first ``n_classes`` of ``CLASSES`` (SONYC always uses the first 8).
    sonyc_version : "2.3" (audio shards ``audio-<k>/``, splits train / validate / test) or "1"
        (``train/`` and ``validate/`` folders, no spatio-temporal columns).
    snr_db_range, distractor_prob, distractor_db_below, level_dbfs_range : difficulty and level knobs (module
        defaults).

    Returns
    -------
    dict: ``layout``, ``n_clips``, ``classes`` (label names as the layout's metadata writes them),
    ``out_dir``, ``seconds``.
    """
    started = time.perf_counter()
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    duration = DEFAULT_DURATION_S[layout] if duration is None else float(duration)
    if not duration > 0 or not math.isfinite(duration):
        raise ValueError(f"duration must be a positive number of seconds, got {duration}")
    if int(clips_per_class) < 1:
        raise ValueError(f"clips_per_class must be at least 1, got {clips_per_class}")
    if int(sample_rate) < 2000:
        raise ValueError(f"sample_rate must be at least 2000 Hz, got {sample_rate}")
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    if layout == "sonyc":
        if str(sonyc_version) not in SONYC_SPLITS:
            raise ValueError(f"sonyc_version must be one of {', '.join(SONYC_SPLITS)}, got {sonyc_version!r}")
        classes = CLASSES[:SONYC_N_COARSE]
    else:
        if not 2 <= int(n_classes) <= len(CLASSES):
            raise ValueError(f"n_classes must be between 2 and {len(CLASSES)}, got {n_classes}")
        classes = CLASSES[:int(n_classes)]
    if len(snr_db_range) != 2 or len(distractor_db_below) != 2 or len(level_dbfs_range) != 2:
        raise ValueError("snr_db_range, distractor_db_below and level_dbfs_range must be (low, high) pairs")
    if not level_dbfs_range[0] <= level_dbfs_range[1] < 0:
        raise ValueError(f"level_dbfs_range must be an increasing pair of negative dB values, got {level_dbfs_range}")
    knobs = {"snr_db_range": tuple(snr_db_range), "distractor_prob": float(distractor_prob),
             "distractor_db_below": tuple(distractor_db_below),
             "level_dbfs_range": tuple(level_dbfs_range)}
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    clips_per_class, sample_rate, seed = int(clips_per_class), int(sample_rate), int(seed)
    total = clips_per_class * len(classes)
    with tqdm(total=total, desc=f"synthetic {layout}", unit="clip", disable=not show_progress) as progress:
        args = (out_dir, classes, clips_per_class, duration, sample_rate, seed, progress, knobs)
        if layout == "esc50":
            n_clips, labels = _generate_esc50(*args)
        elif layout == "us8k":
            n_clips, labels = _generate_us8k(*args)
        else:
            n_clips, labels = _generate_sonyc(*args, version=str(sonyc_version))
    summary = {"layout": layout, "n_clips": n_clips, "classes": labels, "out_dir": out_dir,
               "seconds": time.perf_counter() - started}
    logger.debug("synthetic %s set: %d clips in %s (%.1f s)", layout, n_clips, out_dir, summary["seconds"])
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", choices=LAYOUTS, default="esc50")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--clips_per_class", type=int, default=40)
    parser.add_argument("--duration", type=float, default=None, help="seconds (default 2, SONYC 10)")
    parser.add_argument("--sample_rate", type=int, default=16000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n_classes", type=int, default=10)
    parser.add_argument("--sonyc_version", choices=sorted(SONYC_SPLITS), default="2.3")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        summary = generate_dataset(args.out, layout=args.layout, clips_per_class=args.clips_per_class,
                                   duration=args.duration, sample_rate=args.sample_rate, seed=args.seed,
                                   n_classes=args.n_classes, show_progress=not args.no_progress,
                                   sonyc_version=args.sonyc_version)
    except (ValueError, OSError) as err:
        logger.error("error: %s", err)
        return 2
    logger.info("synthetic set: %s", json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
