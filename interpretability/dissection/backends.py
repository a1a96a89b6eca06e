"""The pluggable models of an AND run (captioner, summariser, text / audio-text encoders, POS tagger)."""

import functools
import inspect
import logging

import torch

from interpretability.dissection.encoders import TextEncoder
from interpretability.dissection.summarizers import ExtractiveSummarizer

logger = logging.getLogger(__name__)


def _is_factory(obj, method):
    if isinstance(obj, (type, functools.partial)):
        return True
    return not hasattr(obj, method) and callable(obj)


def _accepts(factory, name):
    target = factory.func if isinstance(factory, functools.partial) else factory
    if isinstance(factory, functools.partial) and name in factory.keywords:
        return False
    try:
        return name in inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False


class CachedTextEncoder(TextEncoder):
    """Memoises a text encoder per text: DB, calibration, ICL and clustering encode the same sentences often."""

    def __init__(self, encoder):
        self.encoder = encoder
        self._cache = {}

    def encode(self, texts):
        if isinstance(texts, str):
            raise TypeError("expected a list of strings, got a single string")
        texts = list(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            for text, row in zip(missing, self.encoder.encode(missing)):
                self._cache[text] = row
        if not texts:
            return self.encoder.encode([])
        return torch.stack([self._cache[t] for t in texts])


class Backends:
    """The pluggable models, each built on first use (a skipped stage loads nothing).

    Each argument is an instance, a factory (a class or ``functools.partial``, e.g. hyperpyyaml's ``!name:``; a
    summariser factory that takes ``text_encoder`` gets the shared one), or None: the offline default
    (:class:`AcousticCaptioner`, :class:`ExtractiveSummarizer`, :class:`SentenceEncoder`,
    :class:`SpacyTagger` with ``spacy_model``); ``audio_text_encoder`` None turns TAB off.
    """

    def __init__(
        self,
        captioner=None,
        summarizer=None,
        text_encoder=None,
        audio_text_encoder=None,
        pos_tagger=None,
        spacy_model=None,
    ):
        self._given = {
            "captioner": captioner,
            "summarizer": summarizer,
            "text_encoder": text_encoder,
            "audio_text_encoder": audio_text_encoder,
            "pos_tagger": pos_tagger,
        }
        self._built = {}
        self.spacy_model = spacy_model

    def _get(self, name, method, default):
        if name not in self._built:
            given = self._given[name]
            if given is None:
                built = default()
            elif _is_factory(given, method):
                kwargs = {}
                if name == "summarizer" and _accepts(given, "text_encoder"):
                    kwargs["text_encoder"] = self.text_encoder
                logger.info("building the %s backend", name.replace("_", " "))
                built = given(**kwargs)
            else:
                built = given
            self._built[name] = built
        return self._built[name]

    @property
    def captioner(self):
        from interpretability.dissection.captioners import AcousticCaptioner

        return self._get("captioner", "describe", AcousticCaptioner)

    @property
    def captioner_is_acoustic(self):
        """Whether the captioner is (or will be built as) the offline :class:`AcousticCaptioner`."""
        from interpretability.dissection.captioners import AcousticCaptioner

        given = self._built.get("captioner", self._given["captioner"])
        if given is None:
            return True
        target = given.func if isinstance(given, functools.partial) else given
        return isinstance(given, AcousticCaptioner) or (
            isinstance(target, type) and issubclass(target, AcousticCaptioner)
        )

    @property
    def text_encoder(self):
        from interpretability.dissection.encoders import SentenceEncoder

        encoder = self._get("text_encoder", "encode", SentenceEncoder)
        if not isinstance(encoder, CachedTextEncoder):
            encoder = self._built["text_encoder"] = CachedTextEncoder(encoder)
        return encoder

    @property
    def summarizer(self):
        return self._get(
            "summarizer",
            "summarize",
            lambda: ExtractiveSummarizer(text_encoder=self.text_encoder),
        )

    @property
    def has_audio_text_encoder(self):
        return self._given["audio_text_encoder"] is not None

    @property
    def audio_text_encoder(self):
        return self._get("audio_text_encoder", "encode_audio", lambda: None)

    @property
    def pos_tagger(self):
        from interpretability.dissection.pos import SpacyTagger

        return self._get(
            "pos_tagger", "tag", lambda: SpacyTagger(self.spacy_model)
        )
