"""Summarisers / LLMs: summarise a neuron's clip descriptions (Modules B, C) and pick its concept (Module A, ICL).

:class:`ExtractiveSummarizer` is the offline default: it keeps the properties named by at least
``min_share`` of the descriptions and writes one sentence per property; its ICL stand-in picks the
concept nearest to the summary by text embedding. :class:`ChatLLM` runs an instruction-tuned chat model
through ``transformers`` with prompts in the style of the AND paper (Llama-2-chat).
"""

import logging
import math
import re
from abc import ABC, abstractmethod
from collections import Counter
from typing import NamedTuple

import torch

from interpretability.dissection.encoders import _device

logger = logging.getLogger(__name__)


class ICLExample(NamedTuple):
    """A few-shot demonstration: a summary of some clips and the concept it should map to."""

    summary: str
    concept: str


# Demonstrations in the style of the AND paper's ICL prompt (its example is a cat; the answer is a class name).
DEFAULT_ICL_EXAMPLES = (
    ICLExample(
        "The audio features a cat meowing: all of the clips contain the sound of a cat meowing. "
        "The clips are loud, and the meowing repeats several times in each clip.",
        "cat",
    ),
    ICLExample(
        "All clips contain water: drops falling into water or onto a surface, making short, "
        "irregular splashing sounds.",
        "water drops",
    ),
)

SUMMARY_INSTRUCTION = (
    "Here are descriptions of some audio clips. Please summarize these descriptions by "
    "identifying their commonalities. Write a few short sentences, one shared property per "
    "sentence."
)
ICL_INSTRUCTION = (
    "You have a set of sound classes: {concepts}.\nThe following is a description of some audio "
    "clips. Based on the description, select the class out of the above classes that matches the "
    "description most. Answer with the class name only."
)

_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_NEGATIONS = {"no", "not", "never", "without", "nor", "neither", "none", "n't"}


def words_of(text):
    """Lower-case word tokens (hyphenated words kept whole)."""
    return _WORD.findall(text.lower().replace("_", " "))


def normalize_phrase(text):
    """Lower case, underscores / hyphens / punctuation to single spaces: ``"Water_drops"`` -> ``"water drops"``."""
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def map_answer_to_concept(answer, concepts, encoder=None):
    """Map an LLM's free-text answer to one of ``concepts``.

    In order: the answer *is* a concept (case, punctuation, ``_`` ignored); a concept appears in the answer as a
    whole-word phrase (the earliest, then the longest); else the concept nearest to the answer by text
    embedding (``encoder`` required then).
    """
    if not concepts:
        raise ValueError("empty concept list")
    normalized = [normalize_phrase(c) for c in concepts]
    answer_norm = normalize_phrase(answer)
    for concept, norm in zip(concepts, normalized):
        if answer_norm == norm:
            return concept
    found = []
    for concept, norm in zip(concepts, normalized):
        if not norm:
            continue
        match = re.search(
            r"(?<![a-z0-9])" + re.escape(norm) + r"(?![a-z0-9])", answer_norm
        )
        if match:
            found.append((match.start(), -len(norm), concept))
    if found:
        return min(found)[2]
    if encoder is None:
        raise ValueError(
            f"answer {answer!r} names no concept and no text encoder was given to map it"
        )
    scores = (
        encoder.encode([answer if answer.strip() else "unknown"])
        @ encoder.encode([c.replace("_", " ") for c in concepts]).T
    )
    return concepts[int(scores[0].argmax())]


class Summarizer(ABC):
    """Summarises descriptions; chooses a concept for a summary (ICL)."""

    @abstractmethod
    def summarize(self, descriptions):
        """``list[str]`` -> summary ``str`` (sentences)."""

    @abstractmethod
    def choose_concept(self, summary, concepts, examples=DEFAULT_ICL_EXAMPLES):
        """Summary ``str`` (or a list of descriptions) -> one of ``concepts``."""


# The offline captioner's property vocabulary, with the sentence a summary writes for each shared value.
PROPERTY_SENTENCES = {
    "silent": "Most clips are silent.",
    "very quiet": "Most clips are very quiet.",
    "quiet": "Most clips are quiet.",
    "moderately loud": "Most clips are moderately loud.",
    "loud": "Most clips are loud.",
    "very loud": "Most clips are very loud.",
    "tonal": "Most clips are tonal.",
    "semi-tonal": "Most clips are semi-tonal.",
    "noisy": "Most clips are noisy.",
    "low-pitched": "Most clips are low-pitched.",
    "mid-pitched": "Most clips are mid-pitched.",
    "high-pitched": "Most clips are high-pitched.",
    "low-frequency": "Most clips have mostly low-frequency energy.",
    "mid-frequency": "Most clips have mostly mid-frequency energy.",
    "high-frequency": "Most clips have mostly high-frequency energy.",
    "narrowband": "Most clips are narrowband.",
    "mid-band": "Most clips are mid-band.",
    "broadband": "Most clips are broadband.",
    "rising": "Most clips have a rising pitch.",
    "falling": "Most clips have a falling pitch.",
    "steady": "Most clips have a steady pitch.",
    "wavering": "Most clips have a wavering pitch.",
    "single": "Most clips hold a single event.",
    "twice": "Most clips repeat twice.",
    "a few times": "Most clips repeat a few times.",
    "several times": "Most clips repeat several times.",
    "many times": "Most clips repeat many times.",
    "regular": "Most clips repeat at regular intervals.",
    "irregular": "Most clips repeat at irregular intervals.",
    "brief": "Most clips are brief.",
    "short": "Most clips are short.",
    "long": "Most clips are long.",
    "continuous": "Most clips are continuous.",
    # the kinds of sound the captioner names in its first sentence
    "steady tone": "Most clips hold a steady tone.",
    "upward glide": "Most clips hold an upward pitch glide.",
    "downward glide": "Most clips hold a downward pitch glide.",
    "pitch vibrato": "Most clips hold pitch vibrato.",
    "loudness tremolo": "Most clips hold loudness tremolo.",
    "overtone series": "Most clips hold an overtone series.",
    "noisy tone": "Most clips hold a noisy tone.",
    "pulse series": "Most clips hold a series of short pulses.",
    "gated noise": "Most clips hold gated noise.",
    "sharp onset": "Most clips hold a sharp onset.",
    "low noise band": "Most clips hold a low noise band.",
    "unpitched noise": "Most clips hold unpitched noise.",
}
# Words of the captioner's sentence frames and of descriptions in general that name no property.
FRAME_WORDS = frozenset(
    {
        "sound",
        "sounds",
        "clip",
        "clips",
        "audio",
        "recording",
        "recordings",
        "sample",
        "samples",
        "pitch",
        "energy",
        "event",
        "events",
        "repeats",
        "repeat",
        "intervals",
        "active",
        "whole",
        "mostly",
        "times",
        "time",
        "part",
        "describe",
        "described",
        "description",
        "features",
        "feature",
        "contains",
        "contain",
        "heard",
        "hear",
        "appears",
        "appear",
        "seems",
        "seem",
        "mention",
        "mentions",
    }
)


def _stop_words():
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


class ExtractiveSummarizer(Summarizer):
    """Keeps what most descriptions share, one sentence per property (offline, deterministic).

    A property is a phrase of the offline captioner's vocabulary (:data:`PROPERTY_SENTENCES`) or any other
    content word; it is shared when at least ``min_share`` of the descriptions name it (not negated). Shared
    vocabulary phrases give their sentence ("Most clips are loud."), other shared words give
    "Most clips mention <word>."; when a longer shared phrase holds a shorter one ("very loud", "loud"), only the
    longer is written. Sentences are ordered by share, then vocabulary order, then first appearance. Returns ""
    when nothing is shared.

    Arguments
    ---------
    min_share : float
        Fraction of descriptions that must name a property.
    text_encoder : TextEncoder or None
        For :meth:`choose_concept` (embedding similarity); None loads the default offline SentenceEncoder on first use.
    max_sentences : int or None
    """

    def __init__(self, min_share=0.5, text_encoder=None, max_sentences=None):
        if not 0 < min_share <= 1:
            raise ValueError(f"min_share must be in (0, 1], got {min_share}")
        self.min_share = min_share
        self._encoder = text_encoder
        self.max_sentences = max_sentences
        self._stop = _stop_words()
        self._phrases = sorted(
            PROPERTY_SENTENCES, key=lambda p: -len(p.split())
        )
        self._order = {p: i for i, p in enumerate(PROPERTY_SENTENCES)}
        self._phrase_words = {w for p in PROPERTY_SENTENCES for w in p.split()}

    @property
    def text_encoder(self):
        if self._encoder is None:
            from interpretability.dissection.encoders import SentenceEncoder

            self._encoder = SentenceEncoder()
        return self._encoder

    def properties(self, description):
        """The (not negated) properties a description names, in order of appearance: vocabulary phrases and
        content words."""
        found = {}
        for sentence in re.split(r"[.!?;\n]+", description):
            tokens = words_of(sentence)
            negated = _negated_positions(tokens)
            for i, token in enumerate(tokens):
                for phrase in self._phrases:
                    parts = phrase.split()
                    if tokens[i : i + len(parts)] == parts and not any(
                        negated[i : i + len(parts)]
                    ):
                        found.setdefault(phrase, None)
                if (
                    negated[i]
                    or token in PROPERTY_SENTENCES
                    or token in self._stop
                    or token in FRAME_WORDS
                ):
                    continue
                if (
                    len(token) >= 3
                    and token.isalpha()
                    and token not in self._phrase_words
                ):
                    found.setdefault(token, None)
        return list(found)

    def shared_properties(self, descriptions):
        """``[(property, count)]`` named by at least ``min_share`` of the descriptions, most shared first
        (ties: vocabulary phrases in vocabulary order, then other words in order of first appearance)."""
        descriptions = [d for d in descriptions if d and d.strip()]
        if not descriptions:
            return []
        counts, first_seen = Counter(), {}
        for description in descriptions:
            for p in self.properties(description):
                counts[p] += 1
                first_seen.setdefault(p, len(first_seen))
        needed = math.ceil(self.min_share * len(descriptions) - 1e-9)
        shared = [(p, n) for p, n in counts.items() if n >= needed]
        names = {p for p, _ in shared}
        shared = [
            (p, n)
            for p, n in shared
            if not any(q != p and _contains_phrase(q, p) for q in names)
        ]
        return sorted(
            shared,
            key=lambda pn: (
                -pn[1],
                self._order.get(pn[0], len(self._order)),
                first_seen[pn[0]],
            ),
        )

    def summarize(self, descriptions):
        sentences = [
            PROPERTY_SENTENCES.get(p, f"Most clips mention {p}.")
            for p, _ in self.shared_properties(descriptions)
        ]
        if self.max_sentences is not None:
            sentences = sentences[: self.max_sentences]
        return " ".join(sentences)

    def choose_concept(self, summary, concepts, examples=DEFAULT_ICL_EXAMPLES):
        """A concept the summary names (whole-word phrase), else the nearest one by text embedding.

        ``summary`` may be a list of descriptions (joined); ``examples`` are not used.
        """
        text = summary if isinstance(summary, str) else " ".join(summary)
        return map_answer_to_concept(text, list(concepts), self.text_encoder)


def _contains_phrase(longer, shorter):
    a, b = longer.split(), shorter.split()
    return len(a) > len(b) and any(
        a[i : i + len(b)] == b for i in range(len(a) - len(b) + 1)
    )


def _negated_positions(tokens, window=3):
    negated = [False] * len(tokens)
    for i, token in enumerate(tokens):
        if token in _NEGATIONS or token.endswith("n't"):
            for k in range(i + 1, min(len(tokens), i + 1 + window)):
                if tokens[k] in ("and", "but", "or", "while", "with"):
                    break
                negated[k] = True
    return negated


class ChatLLM(Summarizer):
    """An instruction-tuned chat model through ``transformers`` (``apply_chat_template`` + ``generate``).

    Arguments
    ---------
    model_name_or_path : str
        Hub id or local folder (e.g. a Llama-2-chat / Llama-3-Instruct / Qwen2-Instruct model).
    text_encoder : TextEncoder or None
        Maps free-text ICL answers to the nearest concept; None loads the offline SentenceEncoder on first use.
    max_new_tokens : int
        For summaries; ICL answers use ``answer_tokens``.
    generate_kwargs : dict
        Extra ``generate`` arguments (greedy by default, so reruns agree).
    """

    def __init__(
        self,
        model_name_or_path,
        text_encoder=None,
        device=None,
        dtype=None,
        max_new_tokens=256,
        answer_tokens=32,
        generate_kwargs=None,
        summary_instruction=SUMMARY_INSTRUCTION,
        icl_instruction=ICL_INSTRUCTION,
    ):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = _device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(model_name_or_path)
        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError(
                f"{model_name_or_path}: the tokenizer has no chat template; an instruction-tuned "
                "chat model is needed"
            )
        kwargs = {"dtype": dtype} if dtype is not None else {}
        self.model = (
            AutoModelForCausalLM.from_pretrained(model_name_or_path, **kwargs)
            .to(self.device)
            .eval()
        )
        self._encoder = text_encoder
        self.max_new_tokens = int(max_new_tokens)
        self.answer_tokens = int(answer_tokens)
        self.generate_kwargs = {"do_sample": False, **(generate_kwargs or {})}
        self.summary_instruction = summary_instruction
        self.icl_instruction = icl_instruction

    @property
    def text_encoder(self):
        if self._encoder is None:
            from interpretability.dissection.encoders import SentenceEncoder

            self._encoder = SentenceEncoder()
        return self._encoder

    def chat(self, messages, max_new_tokens=None):
        """Messages (``[{"role", "content"}]``) -> the model's reply (new tokens only, special tokens dropped)."""
        input_ids = self._template(messages)
        pad = (
            self.tokenizer.pad_token_id
            if self.tokenizer.pad_token_id is not None
            else self.tokenizer.eos_token_id
        )
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                max_new_tokens=max_new_tokens or self.max_new_tokens,
                pad_token_id=pad,
                **self.generate_kwargs,
            )
        return self.tokenizer.decode(
            output[0, input_ids.shape[1] :], skip_special_tokens=True
        ).strip()

    def _template(self, messages):
        try:
            ids = self.tokenizer.apply_chat_template(
                messages,
                add_generation_prompt=True,
                tokenize=True,
                return_dict=True,
                return_tensors="pt",
            )["input_ids"]
        except Exception as err:  # templates without a system role (Gemma, Mistral) raise TemplateError
            if messages[0]["role"] != "system":
                raise
            logger.info(
                "chat template refused a system turn (%s); merging it into the first user turn",
                err,
            )
            merged = [
                {
                    "role": "user",
                    "content": messages[0]["content"]
                    + "\n\n"
                    + messages[1]["content"],
                }
            ]
            return self._template(merged + list(messages[2:]))
        return ids.to(self.device)

    def summary_messages(self, descriptions):
        listing = "\n".join(
            f"Clip {i + 1}: {d.strip()}" for i, d in enumerate(descriptions)
        )
        return [
            {"role": "system", "content": self.summary_instruction},
            {"role": "user", "content": listing},
        ]

    def icl_messages(self, summary, concepts, examples=DEFAULT_ICL_EXAMPLES):
        text = summary if isinstance(summary, str) else "\n".join(summary)
        names = ", ".join(c.replace("_", " ") for c in concepts)
        messages = [
            {
                "role": "system",
                "content": self.icl_instruction.format(concepts=names),
            }
        ]
        for example in examples or ():
            example = ICLExample(*example)
            messages += [
                {"role": "user", "content": example.summary},
                {"role": "assistant", "content": example.concept},
            ]
        messages.append({"role": "user", "content": text})
        return messages

    def summarize(self, descriptions):
        return self.chat(self.summary_messages(list(descriptions)))

    def ask_concept(self, summary, concepts, examples=DEFAULT_ICL_EXAMPLES):
        """The model's raw free-text ICL answer."""
        return self.chat(
            self.icl_messages(summary, list(concepts), examples),
            max_new_tokens=self.answer_tokens,
        )

    def choose_concept(self, summary, concepts, examples=DEFAULT_ICL_EXAMPLES):
        answer = self.ask_concept(summary, concepts, examples)
        return map_answer_to_concept(answer, list(concepts), self.text_encoder)
