"""Captioners: one text description per probing clip (AND step 2; the paper used SALMONN).

:class:`AcousticCaptioner` is the offline default: it measures loudness, pitch height and direction,
tonality, bandwidth, onsets / rhythm and the duration of the active part, and writes 3-4 short
deterministic sentences from a fixed vocabulary (the words :mod:`.summarizers` and Module C work with).
:class:`TransformersAudioCaptioner` runs an audio-language model (Qwen2-Audio and similar) through
``transformers``.
"""
import logging
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass

import numpy as np
import torch

from interpretability.dissection.encoders import SAMPLE_RATE, _device, as_waveform, resample

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
    """What :class:`AcousticCaptioner` measures on one clip (frequencies in Hz, durations in seconds)."""

    silent: bool
    loudness_dbfs: float          # RMS level of the active part
    clip_seconds: float
    active_seconds: float         # frames within ``active_range_db`` of the loudest frame
    active_fraction: float
    flatness: float               # median spectral flatness of active frames, 0 (pure tone) .. ~0.56 (white noise)
    centroid_hz: float            # median spectral centroid of active frames
    dominant_hz: float            # median spectral peak frequency of active frames
    bandwidth_hz: float           # median width of the band holding the central 90 % of a frame's energy
    pitch_change_octaves: float   # fitted change of the dominant frequency over the tonal frames
    pitch_fit_r2: float           # how well a line explains that track
    pitch_spread_octaves: float   # std of the dominant-frequency track
    onset_times: tuple            # seconds
    ioi_cv: float                 # coefficient of variation of inter-onset intervals (nan below 3 onsets)

    def as_dict(self):
        return asdict(self)


class AcousticCaptioner(Captioner):
    """Offline, deterministic captioner from measured acoustic properties.

    Vocabulary (one word or hyphenated word per property value):
    loudness ``very quiet / quiet / moderately loud / loud / very loud``; tonality ``tonal / semi-tonal / noisy``;
    pitch height ``low-pitched / mid-pitched / high-pitched`` for (semi-)tonal sounds,
    ``low-frequency / mid-frequency / high-frequency`` for noisy ones; direction ``rising / falling / steady /
    wavering``; bandwidth ``narrowband / mid-band / broadband``; events ``single`` or repeated ``a few / several
    / many times`` at ``regular / irregular`` intervals; duration ``brief / short / long``, ``continuous`` when
    the sound fills the clip.

    Pitch height uses the spectral peak (dominant frequency) for (semi-)tonal sounds, which covers the
    whole band where autocorrelation would be too coarse above ~1 kHz, and the spectral centroid for noisy ones.
    """

    def __init__(self, n_fft=1024, hop_length=256, silence_dbfs=-70.0, active_range_db=30.0,
                 low_hz=500.0, high_hz=2000.0, tonal_flatness=0.05, noisy_flatness=0.25,
                 narrow_hz=500.0, broad_hz=3000.0, min_pitch_change=0.2, min_pitch_r2=0.5,
                 onset_threshold_db=6.0, onset_rise_db=3.0, min_onset_gap_s=0.05, regular_cv=0.25):
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.silence_dbfs = silence_dbfs
        self.active_range_db = active_range_db
        self.low_hz, self.high_hz = low_hz, high_hz
        self.tonal_flatness, self.noisy_flatness = tonal_flatness, noisy_flatness
        self.narrow_hz, self.broad_hz = narrow_hz, broad_hz
        self.min_pitch_change, self.min_pitch_r2 = min_pitch_change, min_pitch_r2
        self.onset_threshold_db = onset_threshold_db
        self.onset_rise_db = onset_rise_db
        self.min_onset_gap_s = min_onset_gap_s
        self.regular_cv = regular_cv

    # ----------------------------------------------------------------------------------------- measuring
    def measure(self, wav):
        """Waveform ``[samples]`` at 16 kHz -> :class:`AcousticFeatures`."""
        x = as_waveform(wav).double().numpy()
        sr, hop, n_fft = self.sample_rate, self.hop_length, self.n_fft
        clip_seconds = len(x) / sr
        padded = np.pad(x, (n_fft // 2, n_fft // 2 + max(0, n_fft - len(x))))
        frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]          # [T, n_fft]
        frame_db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-20)
        nan = float("nan")
        if frame_db.max() < self.silence_dbfs:
            return AcousticFeatures(True, float(10 * np.log10(np.mean(x ** 2) + 1e-20)), clip_seconds, 0.0, 0.0,
                                    nan, nan, nan, nan, nan, nan, nan, (), nan)
        power = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1)) ** 2              # [T, F]
        power[:, 0] = 0.0
        freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
        active = (frame_db >= frame_db.max() - self.active_range_db) & (frame_db >= self.silence_dbfs)
        times = np.arange(len(frames)) * hop / sr

        p = power[active] + 1e-12 * power.max()
        total = p.sum(axis=1)
        centroid = (p * freqs).sum(axis=1) / total
        flatness = np.exp(np.mean(np.log(p[:, 1:]), axis=1)) / np.mean(p[:, 1:], axis=1)
        dominant = _peak_frequencies(p, freqs)
        cumulative = np.cumsum(p, axis=1) / total[:, None]
        bandwidth = freqs[np.argmax(cumulative >= 0.95, axis=1)] - freqs[np.argmax(cumulative >= 0.05, axis=1)]

        # Pitch direction from the tonal frames near full level (edges of a note are transients).
        strong = (frame_db[active] >= frame_db.max() - self.active_range_db / 2) & (flatness < self.noisy_flatness)
        change, r2, spread = _pitch_track(times[active][strong], dominant[strong])
        onsets = self._onsets(power, frame_db, active, times)
        intervals = np.diff(onsets)
        ioi_cv = float(intervals.std() / intervals.mean()) if len(onsets) >= 3 and intervals.mean() > 0 else nan
        active_rms_db = 10 * np.log10(np.mean(10 ** (frame_db[active] / 10)))
        active_seconds = min(clip_seconds, active.sum() * hop / sr)
        return AcousticFeatures(
            silent=False, loudness_dbfs=float(active_rms_db), clip_seconds=clip_seconds,
            active_seconds=float(active_seconds), active_fraction=float(active.mean()),
            flatness=float(np.median(flatness)), centroid_hz=float(np.median(centroid)),
            dominant_hz=float(np.median(dominant)), bandwidth_hz=float(np.median(bandwidth)),
            pitch_change_octaves=change, pitch_fit_r2=r2, pitch_spread_octaves=spread,
            onset_times=tuple(float(t) for t in onsets), ioi_cv=ioi_cv)

    def _onsets(self, power, frame_db, active, times):
        """Spectral-flux onsets: mean positive rise of the dB spectrum (floored 80 dB under the peak) at a
        local maximum, where the frame level also rises (so the broadband click of an abrupt ending is no onset)."""
        level = 10 * np.log10(power + 1e-20)
        level = np.maximum(level, level.max() - 80.0)
        flux = np.concatenate([[0.0], np.maximum(level[1:] - level[:-1], 0.0).mean(axis=1)])
        threshold = np.median(flux) + self.onset_threshold_db
        gap = max(1, int(round(self.min_onset_gap_s * self.sample_rate / self.hop_length)))
        onsets = []
        for t in range(1, len(flux)):
            window = flux[max(0, t - 2):t + 3]
            rise = frame_db[min(t + 1, len(flux) - 1)] - frame_db[max(0, t - 3):t].min()
            if flux[t] >= threshold and flux[t] == window.max() and rise >= self.onset_rise_db \
                    and (active[t] or active[min(t + 1, len(active) - 1)]):
                if not onsets or t - onsets[-1] >= gap:
                    onsets.append(t)
        if active[0] and (not onsets or onsets[0] >= gap):
            onsets.insert(0, 0)  # the sound is already there when the clip starts
        return times[onsets] if onsets else np.zeros(0)

    # ----------------------------------------------------------------------------------------- wording
    def words(self, features):
        """Property words of a :class:`AcousticFeatures` (dict property -> word)."""
        f = features
        if f.silent:
            return {"loudness": "silent"}
        level = f.loudness_dbfs
        loudness = ("very loud" if level >= -15 else "loud" if level >= -25 else "moderately loud" if level >= -40
                    else "quiet" if level >= -55 else "very quiet")
        tonality = ("tonal" if f.flatness < self.tonal_flatness else "semi-tonal" if f.flatness < self.noisy_flatness
                    else "noisy")
        height_hz = f.centroid_hz if tonality == "noisy" else f.dominant_hz
        height = "low" if height_hz < self.low_hz else "mid" if height_hz < self.high_hz else "high"
        height += "-frequency" if tonality == "noisy" else "-pitched"
        bandwidth = ("narrowband" if f.bandwidth_hz < self.narrow_hz else "mid-band" if f.bandwidth_hz < self.broad_hz
                     else "broadband")
        words = {"loudness": loudness, "tonality": tonality, "height": height, "bandwidth": bandwidth}
        if tonality != "noisy" and not np.isnan(f.pitch_change_octaves):
            if abs(f.pitch_change_octaves) >= self.min_pitch_change and f.pitch_fit_r2 >= self.min_pitch_r2:
                words["direction"] = "rising" if f.pitch_change_octaves > 0 else "falling"
            elif f.pitch_spread_octaves < self.min_pitch_change / 2:
                words["direction"] = "steady"
            else:
                words["direction"] = "wavering"
        n = len(f.onset_times)
        words["events"] = "single" if n <= 1 else "twice" if n == 2 else (
            "a few times" if n <= 3 else "several times" if n <= 8 else "many times")
        if n >= 3 and not np.isnan(f.ioi_cv):
            words["rhythm"] = "regular" if f.ioi_cv < self.regular_cv else "irregular"
        if f.active_fraction >= 0.9:
            words["duration"] = "continuous"
        else:
            words["duration"] = "brief" if f.active_seconds < 0.3 else "short" if f.active_seconds < 1.5 else "long"
        return words

    def sentences(self, words):
        """Property words -> list of 1-4 sentences."""
        if words.get("loudness") == "silent":
            return ["The clip is silent."]
        w = words
        out = [f"A {w['loudness']}, {w['tonality']}, {w['bandwidth']} sound."]
        if "direction" in w:
            out.append(f"It is {w['height']}, and its pitch is {w['direction']}.")
        elif w["tonality"] == "noisy":
            out.append(f"Its energy is mostly {w['height']}.")
        else:
            out.append(f"It is {w['height']}.")
        if w["events"] == "single":
            event = "continuous" if w["duration"] == "continuous" else w["duration"]
            out.append(f"It is a single {event} event.")
        else:
            rhythm = f" at {w['rhythm']} intervals" if "rhythm" in w else ""
            out.append(f"It repeats {w['events']}{rhythm}.")
            out.append("It is continuous over the whole clip." if w["duration"] == "continuous"
                       else f"Its active part is {w['duration']}.")
        return out

    def describe(self, wav):
        return " ".join(self.sentences(self.words(self.measure(wav))))


def _peak_frequencies(power, freqs):
    """Per-frame spectral peak with parabolic interpolation on log power. ``[T, F]`` -> ``[T]`` Hz."""
    k = np.clip(np.argmax(power, axis=1), 1, power.shape[1] - 2)
    rows = np.arange(len(k))
    a, b, c = (np.log(power[rows, k + d]) for d in (-1, 0, 1))
    denom = a - 2 * b + c
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / np.where(denom == 0, 1, denom), 0.0)
    return (k + np.clip(shift, -0.5, 0.5)) * (freqs[1] - freqs[0])


def _pitch_track(times, hz):
    """Least-squares line through log2 frequency over time -> (fitted change in octaves, r^2, std in octaves)."""
    nan = float("nan")
    if len(times) < 5:
        return nan, nan, nan
    octaves = np.log2(np.maximum(hz, 1.0))
    slope, intercept = np.polyfit(times, octaves, 1)
    residual = octaves - (slope * times + intercept)
    variance = octaves.var()
    r2 = 1.0 - residual.var() / variance if variance > 1e-12 else 0.0
    return float(slope * (times[-1] - times[0])), float(r2), float(octaves.std())


_AUDIO_MODEL_AUTO_CLASSES = ("AutoModelForMultimodalLM", "AutoModelForSeq2SeqLM", "AutoModelForSpeechSeq2Seq",
                             "AutoModelForImageTextToText", "AutoModelForCausalLM")


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

    def __init__(self, model_name_or_path, prompt="Describe the audio in detail.", model_class=None,
                 max_new_tokens=128, device=None, dtype=None, generate_kwargs=None):
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("prompt must be a non-empty string")
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
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
        loader = getattr(transformers, model_class) if model_class else _auto_class_for(config)
        kwargs = {"dtype": dtype} if dtype is not None else {}
        self.model = loader.from_pretrained(model_name_or_path, **kwargs).to(self.device).eval()
        extractor = getattr(self.processor, "feature_extractor", None) or getattr(self.processor, "audio_processor",
                                                                                   None)
        self.model_rate = int(getattr(extractor, "sampling_rate", SAMPLE_RATE))

    def build_text(self):
        """The prompt wrapped in the processor's chat template (a user turn with the audio and the text)."""
        conversation = [{"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": self.prompt}]}]
        if getattr(self.processor, "chat_template", None):
            return self.processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
        return self.prompt

    def describe(self, wav):
        return self.describe_batch([wav])[0]

    def describe_batch(self, wavs):
        audio = [resample(as_waveform(w, f"clip {i}"), self.sample_rate, self.model_rate).numpy()
                 for i, w in enumerate(wavs)]
        if not audio:
            return []
        text = self.build_text()
        inputs = self._process([text] * len(audio), audio)
        inputs = inputs.to(self.device)
        with torch.inference_mode():
            generated = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, **self.generate_kwargs)
        if not getattr(self.model.config, "is_encoder_decoder", False):
            generated = generated[:, inputs["input_ids"].shape[1]:]
        return [t.strip() for t in self.processor.batch_decode(generated, skip_special_tokens=True)]

    def _process(self, texts, audio):
        # The audio keyword changed name across transformers versions (``audios`` -> ``audio``).
        try:
            return self.processor(text=texts, audio=audio, sampling_rate=self.model_rate, return_tensors="pt",
                                  padding=True)
        except TypeError:
            return self.processor(text=texts, audios=audio, sampling_rate=self.model_rate, return_tensors="pt",
                                  padding=True)


def _auto_class_for(config):
    import transformers

    for name in _AUDIO_MODEL_AUTO_CLASSES:
        auto = getattr(transformers, name, None)
        if auto is not None and type(config) in auto._model_mapping:
            return auto
    raise ValueError(f"no transformers auto class generates text for model type {config.model_type!r}; "
                     "give model_class explicitly")
