"""The groundedness rule: share of an answer's sentences supported by the sources they cite.

Defined once, here, because two parts must compute exactly the same number: `chatfleet eval` scores an eval
set with it, and the chat service scores a sample of live turns with it (`chatfleet_answer_groundedness`),
so a production histogram and an eval report are comparable. Deterministic and offline: a local embedder
and lexical overlap, no judge model (formula in docs/evaluation.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from chatfleet.contracts import lexical

SUPPORT_THRESHOLD = 0.6
"""A sentence is supported when 0.5 * lexical containment + 0.5 * best cosine reaches this (and its
numbers all occur in the source)."""

_NO_ANSWER = re.compile(
    r"\b(couldn't|could not|can't|cannot|don't|do not|doesn't|does not|unable to|no information|not found)\b"
    r"[^.]{0,80}?\b(find|answer|know|information|contain|mention|cover)",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")


class Embeds(Protocol):
    """What the rule needs of an embedder: unit-length rows, so cosine is a dot product (the chat
    service's `Embedder` has this shape; declared here so the rule imports no part of chatfleet)."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class Source(Protocol):
    """A retrieved source as the answer cites it: `[id]` and its text."""

    @property
    def id(self) -> str: ...

    @property
    def content(self) -> str: ...


def is_refusal(answer: str) -> bool:
    """The no-answer reply: no citation and a "can't find / don't know" statement (or no answer at all)."""
    text = answer.replace("\u2019", "'").strip()
    return not lexical.citations(text) and (not text or _NO_ANSWER.search(text) is not None)


@dataclass
class Groundedness:
    """Share of an answer's sentences supported by the sources they cite, judged with a local embedder
    and lexical overlap: deterministic, offline, no model deployment needed."""

    embedder: Embeds

    def sentence_support(self, sentence: str, sources: Sequence[str]) -> float:
        """Best score of `sentence` against any of `sources` (0 when a number in it is in none of them)."""
        claim = lexical.CITATION.sub(" ", sentence).strip()
        numbers = set(_NUMBER.findall(claim))
        best = 0.0
        for source in sources:
            if not numbers <= set(_NUMBER.findall(source)):
                continue
            lexical_score = lexical.containment(claim, source)
            pieces = lexical.sentences(source) or [source]
            vectors = self.embedder.embed([claim, *pieces])
            cosine = float(np.max(vectors[1:] @ vectors[0]))
            best = max(best, 0.5 * lexical_score + 0.5 * max(0.0, cosine))
        return best

    def score(self, answer: str, retrieved: Sequence[Source]) -> float | None:
        """None for a refusal or an empty answer: there is nothing to ground."""
        if is_refusal(answer):
            return None
        content = {r.id: r.content for r in retrieved}
        claims = lexical.sentences(answer)
        if not claims:
            return None
        supported = 0
        for claim in claims:
            sources = [content[c] for c in lexical.citations(claim) if c in content]
            if sources and self.sentence_support(claim, sources) >= SUPPORT_THRESHOLD:
                supported += 1
        return supported / len(claims)
