"""Module C, open concepts: the words of a (calibrated) summary that describe the sound.

POS tagging keeps adjectives and participles ("high-pitched", "rising", "muffled"), and nouns (proper nouns
included: "AM") and verbs when ``include_nouns_verbs`` is set (for analysis, and for pruning by open concepts when
class names are nouns: "dog", "bark", "chirp"); negated words ("no background noise", "not
rhythmic") and non-acoustic words are dropped. Adjectives, nouns and verbs are reported by lemma, participles
by their lower-case form ("rising", not "rise").

Non-acoustic words (:data:`NON_ACOUSTIC_WORDS`) are words about the recording, the description or the
quantity of clips rather than about the sound: "audio", "clip", "recording", "sample", "various", "most",
"different", "feature", "describe"... Words that do describe sound stay, "noise" and "background" included:
whether a clip is noisy or has background noise is an acoustic property (the AND paper's example of a
calibrated-away concept is "no background noise").
"""

import logging
import re
from collections import Counter

logger = logging.getLogger(__name__)

NON_ACOUSTIC_WORDS = frozenset(
    {
        # the medium and the description itself
        "audio",
        "sound",
        "clip",
        "recording",
        "record",
        "sample",
        "file",
        "track",
        "snippet",
        "excerpt",
        "piece",
        "description",
        "summary",
        "caption",
        "example",
        "listener",
        "quality",
        "content",
        "context",
        "information",
        "feature",
        "characteristic",
        "property",
        "aspect",
        "element",
        "attribute",
        "nature",
        "type",
        "kind",
        "sort",
        "category",
        "class",
        "thing",
        "part",
        "presence",
        "instance",
        "way",
        "event",
        "interval",
        "time",
        "set",
        "group",
        "commonality",
        "similarity",
        "difference",
        "overall",
        "combination",
        "variety",
        "mix",
        "number",
        # quantities and comparisons of clips
        "most",
        "many",
        "much",
        "more",
        "several",
        "few",
        "multiple",
        "various",
        "different",
        "similar",
        "same",
        "common",
        "other",
        "another",
        "certain",
        "specific",
        "particular",
        "general",
        "main",
        "primary",
        "whole",
        "entire",
        "individual",
        "additional",
        "unique",
        "own",
        "such",
        "all",
        "each",
        "both",
        "some",
        "any",
        "possible",
        "likely",
        "probable",
        "present",
        "notable",
        "noticeable",
        "apparent",
        "evident",
        "above",
        "following",
        "given",
        "first",
        "last",
        "only",
        # verbs of describing and having
        "be",
        "have",
        "do",
        "contain",
        "include",
        "involve",
        "seem",
        "appear",
        "describe",
        "mention",
        "hear",
        "suggest",
        "indicate",
        "make",
        "give",
        "use",
        "get",
        "identify",
        "share",
        "show",
        "capture",
        "provide",
        "consist",
        "occur",
        "come",
        "take",
        "hold",
        "play",
        "produce",
        "create",
    }
)

ADJECTIVE_POS = ("ADJ",)
PARTICIPLE_TAGS = ("VBG", "VBN")
NOUN_VERB_POS = ("NOUN", "PROPN", "VERB")


def extract_open_concepts(
    text, tagger, include_nouns_verbs=False, non_acoustic=NON_ACOUSTIC_WORDS
):
    """Open-vocabulary concepts of ``text`` with their counts.

    Returns a ``Counter`` (``.most_common()`` ranks them; ties keep order of appearance).
    """
    concepts = Counter()
    for token in tagger.tag(text or ""):
        if token.is_negated:
            continue
        word = token.token.lower()
        if token.tag in PARTICIPLE_TAGS and token.pos in ("VERB", "ADJ"):
            concept = word
        elif token.pos in ADJECTIVE_POS or (
            include_nouns_verbs and token.pos in NOUN_VERB_POS
        ):
            concept = token.lemma or word
        else:
            continue
        if not re.fullmatch(r"[a-z]+(?:-[a-z]+)*", concept) or len(concept) < 2:
            continue
        if (
            concept in non_acoustic
            or token.lemma in non_acoustic
            or word in non_acoustic
        ):
            continue
        concepts[concept] += 1
    return concepts
