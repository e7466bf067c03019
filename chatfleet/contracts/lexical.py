"""Text rules the metrics share: citations in an answer, its sentences, and content words for overlap.

Deliberately simple and deterministic (no model, no locale data): the same answer always scores the same,
and a reviewer can recompute a score by hand from docs/evaluation.md.
"""

from __future__ import annotations

import re
from functools import lru_cache

from chatfleet.contracts.citations import MAX_ID_CHARS

CITATION = re.compile(rf"\[([^\[\]\s]{{1,{MAX_ID_CHARS}}})\]")
"""An `[id]` citation, the token the service's citation check lets through (chatfleet.contracts.citations)."""

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# fmt: off
STOPWORDS = frozenset({
    "a", "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "been", "being",
    "but", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has", "have", "how", "i", "if",
    "in", "into", "is", "it", "its", "me", "more", "my", "no", "not", "of", "on", "or", "our", "so", "such",
    "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "to", "too",
    "up", "was", "we", "were", "what", "when", "where", "which", "while", "who", "why", "will", "with",
    "would", "you", "your", "should", "may", "must", "each", "every", "here", "only", "over",
})
# fmt: on


def citations(answer: str) -> list[str]:
    """The ids an answer cites, in order of first appearance."""
    return list(dict.fromkeys(CITATION.findall(answer)))


def document_of(citation_or_source: str) -> str:
    """`docs/vpn-setup.md#2` and `VPN-Setup.md` both name the document `vpn-setup.md`."""
    name = citation_or_source.split("#", 1)[0].replace("%20", " ").replace("\\", "/")
    return name.rsplit("/", 1)[-1].strip().lower()


def sentences(text: str) -> list[str]:
    """Sentences of an answer or source; list markers and lone citations are not sentences of their own."""
    parts = (s.strip(" \t-*#>") for s in _SENTENCE_END.split(text))
    return [s for s in parts if content_words(CITATION.sub(" ", s))]


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """Folds plurals and verb forms ('replicas' ~ 'replica', 'expenses' ~ 'expense') for overlap only."""
    for suffix in ("ies", "ing", "es", "ed", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    """Stemmed lower-case words without stopwords; numbers count (they are the facts most often wrong)."""
    return {
        _stem(word)
        for word in _WORD.findall(text.lower())
        if word not in STOPWORDS and (len(word) > 1 or word.isdigit())
    }


def containment(part: str, whole: str) -> float:
    """Share of `part`'s content words that occur in `whole` (1.0 for a part without content words)."""
    wanted = content_words(part)
    if not wanted:
        return 1.0
    return len(wanted & content_words(whole)) / len(wanted)
