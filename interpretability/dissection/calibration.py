"""Module B, summary calibration: drop from the highly-activated summary what the lowly-activated one also says.

Both summaries are split into sentences; a sentence of the highly summary whose cosine similarity (sentence
encoder) with any sentence of the lowly summary exceeds ``threshold`` (0.5 in the AND paper) is removed.

Note for templated summaries (:class:`~.summarizers.ExtractiveSummarizer`): MiniLM scores sentences that differ
in one antonym very high ("Most clips are loud." / "... quiet." ~0.86), so with that summariser use a threshold
near 1 (e.g. 0.97): equal properties give identical sentences (cosine 1).
"""

import logging
import re
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.5
_BULLET = re.compile(r"^\s*(?:[-*\u2022]+|\d+[.)]|\(\d+\))\s*")


def split_sentences(text):
    """Sentences of a summary: split at line breaks and after ``.!?``; list bullets and numbering removed."""
    sentences = []
    for line in (text or "").splitlines():
        line = _BULLET.sub("", line).strip()
        for part in re.split(r"(?<=[.!?])\s+", line):
            part = part.strip()
            if re.search(r"[A-Za-z0-9]", part):
                sentences.append(part)
    return sentences


@dataclass
class CalibratedSummary:
    """The calibrated summary ``text`` (kept sentences joined) and what was removed, with why."""

    text: str
    kept: list = field(default_factory=list)
    removed: list = field(
        default_factory=list
    )  # dicts: sentence, lowly_sentence, similarity

    def as_dict(self):
        return {
            "text": self.text,
            "kept": list(self.kept),
            "removed": list(self.removed),
        }


def calibrate_summary(
    highly_summary, lowly_summary, text_encoder, threshold=DEFAULT_THRESHOLD
):
    """Remove sentences of ``highly_summary`` with cosine similarity > ``threshold`` to a lowly sentence."""
    high = split_sentences(highly_summary)
    low = split_sentences(lowly_summary)
    if not high or not low:
        return CalibratedSummary(" ".join(high), kept=high)
    similarity = (
        text_encoder.encode(high) @ text_encoder.encode(low).T
    )  # [n_high, n_low]
    best, where = similarity.max(dim=1)
    kept, removed = [], []
    for i, sentence in enumerate(high):
        if float(best[i]) > threshold:
            removed.append(
                {
                    "sentence": sentence,
                    "lowly_sentence": low[int(where[i])],
                    "similarity": round(float(best[i]), 4),
                }
            )
        else:
            kept.append(sentence)
    return CalibratedSummary(" ".join(kept), kept=kept, removed=removed)


def calibrate_neuron(
    summarizer,
    text_encoder,
    highly_descriptions,
    lowly_descriptions,
    threshold=DEFAULT_THRESHOLD,
):
    """Summaries of a neuron's highly and lowly activated descriptions, and the calibrated summary.

    Returns a JSON-ready dict: ``highly_summary``, ``lowly_summary``, ``calibrated_summary``, ``removed``.
    """
    highly = summarizer.summarize(list(highly_descriptions))
    lowly = summarizer.summarize(list(lowly_descriptions))
    calibrated = calibrate_summary(highly, lowly, text_encoder, threshold)
    return {
        "highly_summary": highly,
        "lowly_summary": lowly,
        "calibrated_summary": calibrated.text,
        "removed": calibrated.removed,
    }
