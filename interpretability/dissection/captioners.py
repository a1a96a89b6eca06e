"""Captioners: one text description per probing clip (AND step 2; the paper used SALMONN).

:class:`AcousticCaptioner` is the offline default: it measures loudness, pitch height and direction,
tonality, bandwidth, onsets / rhythm and the duration of the active part, and writes 3 short
deterministic sentences from a fixed vocabulary (the words :mod:`.summarizers` and Module C work with). It
describes signal properties only: it has no words for sound sources (dog, engine, speech), so on real
recordings the figures built on its text (DB, ICL, open concepts) say little; there an audio-language
captioner is needed, or the label-based dissection (:mod:`.label_based`), which needs none.
:class:`TransformersAudioCaptioner` runs an audio-language model (Qwen2-Audio and similar) through
``transformers``.
"""

import logging
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass

import numpy as np
import torch

from interpretability.dissection.encoders import (
    SAMPLE_RATE,
    _device,
    as_waveform,
    resample,
)

logger = logging.getLogger(__name__)


class Captioner(ABC):
    """Describes a 16 kHz mono waveform ``[samples]`` in words."""

    sample_rate = SAMPLE_RATE

    @abstractmethod
    def describe(self, wav):
        """``[samples]`` at 16 kHz -> description ``str``."""

    def describe_batch(self, wavs):
        """List of waveforms -> list of descriptions (backends may override to batch)."""
        return [self.describe(wav) for wav in wavs]


@dataclass
class AcousticFeatures:
    """What :class:`AcousticCaptioner` measures on the foreground event of one clip (Hz, seconds, octaves)."""

    silent: bool
    loudness_dbfs: float  # RMS level of the event frames
    clip_seconds: float
    event_seconds: float  # from the first to the last event frame
    active_seconds: float  # event frames only
    fills_clip: bool  # nothing stands out of a steady floor: the sound is the whole clip
    tonal_share: float  # share of the event's energy in narrow spectral peaks (and their harmonics)
    n_partials: int  # median number of harmonics of one fundamental found per frame (1: one partial)
    centroid_hz: float  # of the event's mean spectrum over the noise floor
    pitch_hz: (
        float  # median of the pitch track (fundamental, or the spectral peak)
    )
    band_low_hz: (
        float  # the band holding the central 90 % of the event's energy
    )
    band_high_hz: float
    pitch_change_octaves: (
        float  # fitted change of the pitch track over the event
    )
    pitch_fit_r2: float  # how well a line explains the track
    pitch_wobble_octaves: float  # std of the track around that line
    pitch_periodicity: (
        float  # autocorrelation peak of that residual (1: a periodic wobble)
    )
    envelope_periodicity: float  # autocorrelation peak of the amplitude envelope in the event's band
    modulation_hz: (
        float  # rate of the envelope's period (nan when not periodic)
    )
    modulation_depth: float  # (p95 - p5) / (p95 + p5) of that envelope
    pulse_seconds: (
        float  # time per period the envelope stays above half its peak
    )
    attack_seconds: float  # from 10 % of the envelope's peak to the peak
    decay_db: (
        float  # envelope peak over the level in the last quarter of the event
    )

    def as_dict(self):
        return asdict(self)


# The kinds of sound :meth:`AcousticCaptioner.kind` tells apart, named by what was measured (pitch and loudness
# contours, tonality, pulse width, attack and decay, spectral centroid) in generic acoustic words.
KINDS = (
    "steady tone",
    "upward glide",
    "downward glide",
    "pitch vibrato",
    "loudness tremolo",
    "overtone series",
    "noisy tone",
    "pulse series",
    "gated noise",
    "sharp onset",
    "low noise band",
    "unpitched noise",
)


class AcousticCaptioner(Captioner):
    """Offline, deterministic captioner from measured acoustic properties of the clip's foreground sound.

    The background is each frequency bin's noise floor (a low quantile of its power over time, corrected to the
    mean of exponentially distributed noise power: a minimum-statistics estimate of stationary noise); the event
    is the set of frames where the spectrum stands out of it (when nothing does, the sound fills the clip). On the
    event the captioner measures how much energy sits in narrow spectral peaks (tonal vs noisy), how many peaks
    are harmonics of one fundamental, the pitch track (sweep up / down, periodic wobble, steady), the amplitude
    envelope in the event's band (periodicity, rate, depth, width of each pulse), attack and decay, centroid,
    band, level and duration (:meth:`measure`).

    The first sentence names the kind of sound (:data:`KINDS`, :meth:`kind`) from those measurements alone, in
    generic words for what was measured: ``steady tone`` (one partial at a constant frequency), ``upward /
    downward glide`` (a tone whose pitch moves up / down), ``pitch vibrato`` (a periodic pitch wobble),
    ``loudness tremolo`` (a periodic loudness throb), ``overtone series`` (partials at multiples of a fundamental),
    ``pulse series`` (narrow periodic pulses of noisy energy), ``gated noise`` (wider periodic bursts),
    ``sharp onset`` (short, abrupt, decaying), ``low noise band`` (noise below ``rumble_hz``, or a low peak
    wandering at random), ``unpitched noise`` (other noisy sounds), ``noisy tone`` (a semi-tonal sound none of
    these fits). The next sentences give loudness, tonality, pitch height, bandwidth, pitch direction, onset rate
    and duration from a fixed vocabulary (the words :mod:`.summarizers` knows). No wording names a class of the
    synthetic set (a unit test checks every sentence the captioner can write), so on that set DB measures how
    well generic property words point to the class names, not whether the captioner repeats them.
    """

    def __init__(
        self,
        n_fft=1024,
        hop_length=128,
        envelope_n_fft=256,
        envelope_hop=64,
        silence_dbfs=-70.0,
        floor_quantile=0.1,
        min_activity=0.3,
        event_share=0.1,
        low_hz=500.0,
        high_hz=2000.0,
        rumble_hz=300.0,
        tonal_share=0.6,
        noisy_share=0.35,
        narrow_hz=500.0,
        broad_hz=3000.0,
        sweep_octaves=0.4,
        sweep_r2=0.6,
        wobble_octaves=0.025,
        periodicity=0.4,
        modulation_depth=0.5,
        click_seconds=0.025,
        impact_seconds=0.5,
        impact_attack_seconds=0.03,
        impact_decay_db=12.0,
    ):
        if not 0 < floor_quantile < 0.5:
            raise ValueError(
                f"floor_quantile must be in (0, 0.5), got {floor_quantile}"
            )
        self.n_fft, self.hop_length = int(n_fft), int(hop_length)
        self.envelope_n_fft, self.envelope_hop = (
            int(envelope_n_fft),
            int(envelope_hop),
        )
        self.silence_dbfs = silence_dbfs
        self.floor_quantile = floor_quantile
        self.min_activity, self.event_share = min_activity, event_share
        self.low_hz, self.high_hz, self.rumble_hz = low_hz, high_hz, rumble_hz
        self.tonal_share, self.noisy_share = tonal_share, noisy_share
        self.narrow_hz, self.broad_hz = narrow_hz, broad_hz
        self.sweep_octaves, self.sweep_r2, self.wobble_octaves = (
            sweep_octaves,
            sweep_r2,
            wobble_octaves,
        )
        self.periodicity, self.modulation_depth = periodicity, modulation_depth
        self.click_seconds = click_seconds
        self.impact_seconds, self.impact_attack_seconds = (
            impact_seconds,
            impact_attack_seconds,
        )
        self.impact_decay_db = impact_decay_db

    # ----------------------------------------------------------------------------------------- measuring
    def measure(self, wav):
        """Waveform ``[samples]`` at 16 kHz -> :class:`AcousticFeatures`."""
        x = as_waveform(wav).double().numpy()
        sr, hop = self.sample_rate, self.hop_length
        clip_seconds = len(x) / sr
        frames = _frames(x, self.n_fft, hop)  # [T, n_fft]
        frame_db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)
        nan = float("nan")
        if frame_db.max() < self.silence_dbfs:
            return AcousticFeatures(
                True,
                float(10 * np.log10(np.mean(x**2) + 1e-20)),
                clip_seconds,
                0.0,
                0.0,
                False,
                nan,
                0,
                nan,
                nan,
                nan,
                nan,
                nan,
                nan,
                nan,
                nan,
                nan,
                nan,
                nan,
                nan,
                nan,
                nan,
            )
        freqs = np.fft.rfftfreq(self.n_fft, 1.0 / sr)
        band = (freqs >= 30.0) & (freqs <= min(7600.0, 0.475 * sr))
        power = (
            np.abs(np.fft.rfft(frames * np.hanning(self.n_fft), axis=1)) ** 2
        )[:, band]  # [T, F]
        freqs = freqs[band]
        bin_hz = sr / self.n_fft
        floor = (
            _noise_floor(power, self.floor_quantile)
            + 1e-20 * power.max()
            + 1e-30
        )
        activity = _smooth(
            np.mean(power / floor - 1.0, axis=1), max(1, round(0.04 * sr / hop))
        )
        fills_clip = activity.max() < self.min_activity
        if fills_clip:  # nothing stands out of the floor: the whole (non-silent) clip is the sound
            event = (frame_db >= frame_db.max() - 30.0) & (
                frame_db >= self.silence_dbfs
            )
            floor = np.full_like(floor, 1e-30)
        else:
            event = activity >= max(
                self.min_activity, self.event_share * activity.max()
            )
        rows = np.flatnonzero(event)
        times = np.arange(len(frames)) * hop / sr
        event_seconds = float(
            min(clip_seconds, times[rows[-1]] - times[rows[0]] + hop / sr)
        )
        active_seconds = float(min(clip_seconds, len(rows) * hop / sr))
        level = float(10 * np.log10(np.mean(10 ** (frame_db[rows] / 10))))

        excess = np.maximum(power[rows] - floor, 0.0)  # [E, F]
        spectrum = np.maximum(power[rows].mean(axis=0) - 1.5 * floor, 0.0)
        if spectrum.sum() <= 0:
            spectrum = excess.mean(axis=0) + 1e-30
        cumulative = np.cumsum(spectrum) / spectrum.sum()
        band_low, band_high = (
            float(freqs[np.argmax(cumulative >= 0.05)]),
            float(freqs[np.argmax(cumulative >= 0.95)]),
        )
        centroid = float((spectrum * freqs).sum() / spectrum.sum())

        energy = excess.sum(axis=1)
        strong = np.flatnonzero(energy >= 0.1 * energy.max())
        peak_shares, pitches = [], []
        for e in strong:
            share, k = _peak_share(excess[e])
            peak_shares.append(share)
            pitches.append(freqs[0] + _interpolated_bin(excess[e], k) * bin_hz)
        weights = energy[strong]
        tonal_share = float(
            np.sum(np.array(peak_shares) * weights) / weights.sum()
        )
        averaged = excess[strong].mean(axis=0)
        partials, f0 = _harmonics(averaged, freqs, bin_hz)
        n_partials = len(partials)
        if n_partials >= 2:
            near = np.zeros(len(averaged), dtype=bool)
            for j in partials:
                near[max(0, j - 2) : j + 3] = True
            tonal_share = max(
                tonal_share,
                float(averaged[near].sum() / max(averaged.sum(), 1e-30)),
            )
            pitches = [f0] * len(pitches) if n_partials >= 3 else pitches
        change, r2, wobble, wobble_periodicity = _pitch_track(
            times[rows[strong]],
            np.array(pitches, dtype=float),
            max(2, round(sr / hop / 20)),
        )
        envelope = self._envelope(
            x,
            (band_low, band_high),
            floor if not fills_clip else None,
            (times[rows[0]], times[rows[-1]] + self.n_fft / sr),
        )
        return AcousticFeatures(
            silent=False,
            loudness_dbfs=level,
            clip_seconds=clip_seconds,
            event_seconds=event_seconds,
            active_seconds=active_seconds,
            fills_clip=bool(fills_clip),
            tonal_share=tonal_share,
            n_partials=n_partials,
            centroid_hz=centroid,
            pitch_hz=float(np.median(pitches)),
            band_low_hz=band_low,
            band_high_hz=band_high,
            pitch_change_octaves=change,
            pitch_fit_r2=r2,
            pitch_wobble_octaves=wobble,
            pitch_periodicity=wobble_periodicity,
            **envelope,
        )

    def _envelope(self, x, band, floor, span):
        """Amplitude envelope of the event in its band (short frames, noise floor removed) -> its measures."""
        sr, n_fft, hop = (
            self.sample_rate,
            self.envelope_n_fft,
            self.envelope_hop,
        )
        freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
        keep = (freqs >= max(30.0, band[0] / 1.25 - sr / n_fft)) & (
            freqs <= band[1] * 1.25 + sr / n_fft
        )
        power = (
            np.abs(
                np.fft.rfft(_frames(x, n_fft, hop) * np.hanning(n_fft), axis=1)
            )
            ** 2
        )[:, keep]
        short_floor = (
            _noise_floor(power, self.floor_quantile)
            if floor is not None
            else 0.0
        )
        envelope = np.maximum(power - short_floor, 0.0).sum(axis=1)
        times = np.arange(len(envelope)) * hop / sr
        inside = (times >= span[0] - 0.02) & (times <= span[1] + 0.02)
        envelope = _smooth(envelope[inside], 2)
        nan = float("nan")
        if len(envelope) < 4 or envelope.max() <= 0:
            return {
                "envelope_periodicity": 0.0,
                "modulation_hz": nan,
                "modulation_depth": 0.0,
                "pulse_seconds": nan,
                "attack_seconds": nan,
                "decay_db": 0.0,
            }
        high, low = np.percentile(envelope, 95), np.percentile(envelope, 5)
        depth = float((high - low) / (high + low)) if high + low > 0 else 0.0
        periodicity, lag = _periodicity(
            envelope,
            min_lag=max(2, round(sr / hop / 40)),
            max_lag=min(len(envelope) // 2, round(0.6 * sr / hop)),
        )
        rate = sr / hop / lag if lag else nan
        duty = float(np.mean(envelope >= 0.5 * high))
        peak = int(np.argmax(envelope))
        start = int(np.argmax(envelope >= 0.1 * envelope[peak]))
        tail = envelope[int(0.75 * len(envelope)) :]
        decay = float(
            10
            * np.log10(
                envelope[peak] / max(tail.mean(), 1e-12 * envelope[peak])
            )
        )
        return {
            "envelope_periodicity": periodicity,
            "modulation_hz": float(rate),
            "modulation_depth": depth,
            "pulse_seconds": float(duty / rate) if lag else nan,
            "attack_seconds": (peak - start) * hop / sr,
            "decay_db": decay,
        }

    # ----------------------------------------------------------------------------------------- wording
    def kind(self, f):
        """The kind of sound a :class:`AcousticFeatures` describes (one of :data:`KINDS`), or None when silent."""
        if f.silent:
            return None
        tonality = self.tonality(f)
        periodic = (
            f.envelope_periodicity >= self.periodicity
            and f.modulation_depth >= self.modulation_depth
        )
        if (
            f.event_seconds <= self.impact_seconds
            and f.attack_seconds <= self.impact_attack_seconds
            and f.decay_db >= self.impact_decay_db
            and not periodic
        ):
            return "sharp onset"
        if (tonality != "tonal" and f.centroid_hz < self.rumble_hz) or (
            tonality != "noisy"
            and f.pitch_hz < self.rumble_hz
            and self.direction(f) == "wavering"
        ):
            return "low noise band"  # low noise, or a low spectral peak that wanders at random (a narrow low band)
        if tonality != "noisy":
            if f.n_partials >= 3:
                return "overtone series"
            if self.direction(f) == "rising":
                return "upward glide"
            if self.direction(f) == "falling":
                return "downward glide"
            if self.direction(f) == "wobbling":
                return "pitch vibrato"
            if periodic:
                return "loudness tremolo"
            return "steady tone" if tonality == "tonal" else "noisy tone"
        if periodic:
            return (
                "pulse series"
                if f.pulse_seconds <= self.click_seconds
                else "gated noise"
            )
        return "unpitched noise"

    def tonality(self, f):
        return (
            "tonal"
            if f.tonal_share >= self.tonal_share
            else "noisy"
            if f.tonal_share < self.noisy_share
            else "semi-tonal"
        )

    def direction(self, f):
        """``rising / falling`` (a fitted sweep), ``wobbling`` (a periodic wobble), ``steady`` or ``wavering``."""
        if np.isnan(f.pitch_change_octaves):
            return None
        if (
            abs(f.pitch_change_octaves) >= self.sweep_octaves
            and f.pitch_fit_r2 >= self.sweep_r2
        ):
            return "rising" if f.pitch_change_octaves > 0 else "falling"
        if f.pitch_wobble_octaves >= self.wobble_octaves:
            return (
                "wobbling"
                if f.pitch_periodicity >= self.periodicity
                else "wavering"
            )
        return "steady"

    def words(self, features):
        """Property words of a :class:`AcousticFeatures` (dict property -> word)."""
        f = features
        if f.silent:
            return {"loudness": "silent"}
        level = f.loudness_dbfs
        tonality = self.tonality(f)
        height_hz = f.centroid_hz if tonality == "noisy" else f.pitch_hz
        height = (
            "low"
            if height_hz < self.low_hz
            else "mid"
            if height_hz < self.high_hz
            else "high"
        )
        width = f.band_high_hz - f.band_low_hz
        words = {
            "kind": self.kind(f),
            "loudness": (
                "very loud"
                if level >= -15
                else "loud"
                if level >= -25
                else "moderately loud"
                if level >= -40
                else "quiet"
                if level >= -55
                else "very quiet"
            ),
            "tonality": tonality,
            "height": height
            + ("-frequency" if tonality == "noisy" else "-pitched"),
            "bandwidth": "narrowband"
            if width < self.narrow_hz
            else "mid-band"
            if width < self.broad_hz
            else "broadband",
        }
        direction = self.direction(f) if tonality != "noisy" else None
        if direction is not None:
            words["direction"] = direction
        if (
            f.envelope_periodicity >= self.periodicity
            and f.modulation_depth >= self.modulation_depth
        ):
            words["rate"] = (
                "slowly"
                if f.modulation_hz < 6
                else "rapidly"
                if f.modulation_hz >= 15
                else "steadily"
            )
        if f.fills_clip or f.event_seconds >= 0.9 * f.clip_seconds:
            words["duration"] = "continuous"
        else:
            words["duration"] = (
                "brief"
                if f.event_seconds < 0.3
                else "short"
                if f.event_seconds < 1.5
                else "long"
            )
        return words

    _KIND_SENTENCES = {
        "steady tone": "A steady tone: one partial at a constant frequency.",
        "upward glide": "An upward glide: a tone whose pitch moves up.",
        "downward glide": "A downward glide: a tone whose pitch moves down.",
        "pitch vibrato": "Pitch vibrato: a tone whose pitch moves up and down {rate}.",
        "loudness tremolo": "Loudness tremolo: a tone whose loudness swells and fades {rate}.",
        "overtone series": "An overtone series: a fundamental with several overtones.",
        "noisy tone": "A noisy tone: a partial mixed with noise.",
        "pulse series": "A pulse series: very short noisy pulses repeating {rate}.",
        "gated noise": "Gated noise: noise switching on and off {rate}.",
        "sharp onset": "A sharp onset: a sudden attack that decays quickly.",
        "low noise band": "A low noise band: noise concentrated at low frequencies.",
        "unpitched noise": "Unpitched noise: noisy energy without a clear pitch.",
    }
    RATES = ("slowly", "steadily", "rapidly")

    def sentences(self, words):
        """Property words -> list of 2-3 sentences (the kind of sound first)."""
        if words.get("loudness") == "silent":
            return ["The clip is silent."]
        w = words
        out = [
            self._KIND_SENTENCES[w["kind"]].format(
                rate=w.get("rate", "steadily")
            )
        ]
        pitch = (
            f", and its pitch is {w['direction']}" if "direction" in w else ""
        )
        out.append(
            f"It is {w['loudness']}, {w['tonality']}, {w['height']} and {w['bandwidth']}{pitch}."
        )
        out.append(
            "It is continuous over the whole clip."
            if w["duration"] == "continuous"
            else f"It is a single {w['duration']} event."
        )
        return out

    def describe(self, wav):
        return " ".join(self.sentences(self.words(self.measure(wav))))


def _frames(x, n_fft, hop):
    """Centred frames ``[T, n_fft]`` of ``x`` (zero padded), one every ``hop`` samples."""
    padded = np.pad(x, (n_fft // 2, n_fft // 2 + max(0, n_fft - len(x))))
    return np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]


def _noise_floor(power, quantile):
    """Per-bin noise floor ``[F]`` from power ``[T, F]``: the ``quantile`` of each bin over time divided by that
    quantile of a unit-mean exponential distribution (``-ln(1 - q)``), the law of a noise bin's power."""
    return np.quantile(power, quantile, axis=0) / -np.log1p(-quantile)


def _smooth(values, width):
    """Moving average of ``width`` samples, same length (edges averaged over what exists)."""
    if width <= 1:
        return values
    kernel = np.ones(int(width))
    return np.convolve(values, kernel, mode="same") / np.convolve(
        np.ones_like(values), kernel, mode="same"
    )


def _periodicity(values, min_lag, max_lag):
    """``(peak, lag)``: the highest normalised autocorrelation of ``values`` after its first zero crossing, at
    lags ``[min_lag, max_lag]``; ``(0.0, None)`` when there is none."""
    centred = values - values.mean()
    energy = float(centred @ centred)
    if energy <= 0 or max_lag <= min_lag:
        return 0.0, None
    acf = (
        np.array(
            [centred[:-lag] @ centred[lag:] for lag in range(1, max_lag + 1)]
        )
        / energy
    )
    below = np.flatnonzero(acf < 0)
    if not len(below):
        return 0.0, None
    first = max(int(below[0]), min_lag - 1)
    if first >= max_lag - 1:
        return 0.0, None
    best = first + int(np.argmax(acf[first:]))
    return float(max(acf[best], 0.0)), best + 1


def _peak_share(excess, width=2):
    """One frame's excess power ``[F]`` -> ``(share of it within width bins of its maximum, the maximum's bin)``."""
    total = excess.sum()
    k = int(np.argmax(excess))
    if total <= 0:
        return 0.0, k
    return float(excess[max(0, k - width) : k + width + 1].sum() / total), k


def _harmonics(
    spectrum, freqs, bin_hz, prominence=8.0, min_f0=50.0, max_divisor=4
):
    """Partials of one fundamental in a time-averaged excess spectrum ``[F]`` -> ``(bins, f0 in Hz)``.

    The strongest peak and its sub-multiples ``peak / m`` (m = 1..max_divisor, >= ``min_f0``) are tried as the
    fundamental; harmonic n counts when a local maximum within 2 % (at least 1.5 bins) of ``n f0`` is
    ``prominence`` times the median of the spectrum over one harmonic spacing (at least 6 bins) either side. The
    fundamental with the most partials wins if the strongest peak is one of them and its first partial is ``f0``;
    a lone peak gives ``([peak], peak Hz)``.
    """
    k = int(np.argmax(spectrum))
    peak_hz = freqs[0] + _interpolated_bin(spectrum, k) * bin_hz
    best = ([k], peak_hz)
    for m in range(1, max_divisor + 1):
        f0 = peak_hz / m
        if f0 < min_f0:
            break
        spacing = max(6, int(round(f0 / bin_hz)))
        found = []
        for n in range(1, int(freqs[-1] // f0) + 1):
            centre = (n * f0 - freqs[0]) / bin_hz
            reach = max(1.5, 0.02 * n * f0 / bin_hz)
            lo, hi = (
                max(0, int(np.floor(centre - reach))),
                min(len(spectrum) - 1, int(np.ceil(centre + reach))),
            )
            if lo > hi:
                continue
            j = lo + int(np.argmax(spectrum[lo : hi + 1]))
            around = spectrum[max(0, j - spacing) : j + spacing + 1]
            if spectrum[j] >= spectrum[
                max(0, j - 1) : j + 2
            ].max() and spectrum[j] >= prominence * np.median(around):
                found.append(j)
        first_hz = freqs[0] + found[0] * bin_hz if found else 0.0
        if (
            k in found
            and len(found) > len(best[0])
            and abs(first_hz - f0) <= max(1.5 * bin_hz, 0.02 * f0)
        ):
            best = (found, f0)
    return best


def _interpolated_bin(power, k):
    """Parabolic interpolation of a spectral peak on log power: bin index ``k`` +- 0.5."""
    if k <= 0 or k >= len(power) - 1:
        return float(k)
    a, b, c = (np.log(power[k + d] + 1e-30) for d in (-1, 0, 1))
    denom = a - 2 * b + c
    return k + (
        float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5))
        if abs(denom) > 1e-12
        else 0.0
    )


def _pitch_track(times, hz, min_lag, median_width=5, outlier_octaves=0.05):
    """Robust line through the log2 pitch track over time.

    The track is median filtered over ``median_width`` frames (a frame whose peak jumps to another source is an
    outlier), a line is fitted, points further than ``max(3 * 1.4826 * MAD, outlier_octaves)`` from it are
    dropped and the line is fitted again. Returns ``(fitted change in octaves, r^2, residual std in octaves,
    residual periodicity)`` over the kept points; NaNs below 5 points.
    """
    nan = float("nan")
    keep = np.isfinite(hz) & (hz > 0)
    times, hz = times[keep], hz[keep]
    if len(times) < 5:
        return nan, nan, nan, nan
    octaves = np.log2(hz)
    if len(octaves) >= median_width:
        half = median_width // 2
        padded = np.pad(octaves, half, mode="edge")
        octaves = np.median(
            np.lib.stride_tricks.sliding_window_view(padded, median_width),
            axis=1,
        )
    inliers = np.ones(len(octaves), dtype=bool)
    for _ in range(2):
        slope, intercept = np.polyfit(times[inliers], octaves[inliers], 1)
        residual = octaves - (slope * times + intercept)
        spread = 1.4826 * np.median(
            np.abs(residual[inliers] - np.median(residual[inliers]))
        )
        inliers = np.abs(residual) <= max(3 * spread, outlier_octaves)
        if inliers.sum() < 5:
            inliers = np.ones(len(octaves), dtype=bool)
            break
    slope, intercept = np.polyfit(times[inliers], octaves[inliers], 1)
    t, o = times[inliers], octaves[inliers]
    residual = o - (slope * t + intercept)
    variance = o.var()
    r2 = 1.0 - residual.var() / variance if variance > 1e-12 else 0.0
    periodicity, _ = _periodicity(residual, min_lag, len(residual) // 2)
    return (
        float(slope * (t[-1] - t[0])),
        float(r2),
        float(residual.std()),
        periodicity,
    )


_AUDIO_MODEL_AUTO_CLASSES = (
    "AutoModelForMultimodalLM",
    "AutoModelForSeq2SeqLM",
    "AutoModelForSpeechSeq2Seq",
    "AutoModelForImageTextToText",
    "AutoModelForCausalLM",
)


class TransformersAudioCaptioner(Captioner):
    """An audio-language model (Qwen2-Audio style) through ``transformers``: processor + generate.

    The prompt goes through the processor's chat template as a user turn holding the audio and the text;
    the waveform is resampled from 16 kHz to the processor's feature-extractor rate.

    Arguments
    ---------
    model_name_or_path : str
        Hub id or local folder holding the model and its processor.
    prompt : str
    model_class : str or None
        A ``transformers`` auto class name; None picks the first auto class that knows the model's config.
    max_new_tokens : int
    device, dtype : optional
    generate_kwargs : dict
        Extra ``generate`` arguments (greedy decoding by default, so captions are reproducible).
    """

    def __init__(
        self,
        model_name_or_path,
        prompt="Describe the audio in detail.",
        model_class=None,
        max_new_tokens=128,
        device=None,
        dtype=None,
        generate_kwargs=None,
    ):
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("prompt must be a non-empty string")
        if max_new_tokens < 1:
            raise ValueError(
                f"max_new_tokens must be >= 1, got {max_new_tokens}"
            )
        import transformers
        from transformers import AutoConfig, AutoProcessor

        self.prompt = prompt
        self.max_new_tokens = int(max_new_tokens)
        self.device = _device(device)
        self.generate_kwargs = {"do_sample": False, **(generate_kwargs or {})}
        self.processor = AutoProcessor.from_pretrained(model_name_or_path)
        tokenizer = getattr(self.processor, "tokenizer", None)
        if tokenizer is not None:
            tokenizer.padding_side = "left"  # batched generation continues every row from its last token
        config = AutoConfig.from_pretrained(model_name_or_path)
        loader = (
            getattr(transformers, model_class)
            if model_class
            else _auto_class_for(config)
        )
        kwargs = {"dtype": dtype} if dtype is not None else {}
        self.model = (
            loader.from_pretrained(model_name_or_path, **kwargs)
            .to(self.device)
            .eval()
        )
        extractor = getattr(
            self.processor, "feature_extractor", None
        ) or getattr(self.processor, "audio_processor", None)
        self.model_rate = int(getattr(extractor, "sampling_rate", SAMPLE_RATE))

    def build_text(self):
        """The prompt wrapped in the processor's chat template (a user turn with the audio and the text)."""
        conversation = [
            {
                "role": "user",
                "content": [
                    {"type": "audio"},
                    {"type": "text", "text": self.prompt},
                ],
            }
        ]
        if getattr(self.processor, "chat_template", None):
            return self.processor.apply_chat_template(
                conversation, add_generation_prompt=True, tokenize=False
            )
        return self.prompt

    def describe(self, wav):
        return self.describe_batch([wav])[0]

    def describe_batch(self, wavs):
        audio = [
            resample(
                as_waveform(w, f"clip {i}"), self.sample_rate, self.model_rate
            ).numpy()
            for i, w in enumerate(wavs)
        ]
        if not audio:
            return []
        text = self.build_text()
        inputs = self._process([text] * len(audio), audio)
        inputs = inputs.to(self.device)
        with torch.inference_mode():
            generated = self.model.generate(
                **inputs,
                max_new_tokens=self.max_new_tokens,
                **self.generate_kwargs,
            )
        if not getattr(self.model.config, "is_encoder_decoder", False):
            generated = generated[:, inputs["input_ids"].shape[1] :]
        return [
            t.strip()
            for t in self.processor.batch_decode(
                generated, skip_special_tokens=True
            )
        ]

    def _process(self, texts, audio):
        # The audio keyword changed name across transformers versions (``audios`` -> ``audio``).
        try:
            return self.processor(
                text=texts,
                audio=audio,
                sampling_rate=self.model_rate,
                return_tensors="pt",
                padding=True,
            )
        except TypeError:
            return self.processor(
                text=texts,
                audios=audio,
                sampling_rate=self.model_rate,
                return_tensors="pt",
                padding=True,
            )


def _auto_class_for(config):
    import transformers

    for name in _AUDIO_MODEL_AUTO_CLASSES:
        auto = getattr(transformers, name, None)
        if auto is not None and type(config) in auto._model_mapping:
            return auto
    raise ValueError(
        f"no transformers auto class generates text for model type {config.model_type!r}; "
        "give model_class explicitly"
    )
