"""The per-case metrics, each a pure function of the case and the service's turn (formulas in
docs/evaluation.md). None means "does not apply to this case" and is left out of the averages.

Documents are compared by file name (`lexical.document_of`), so `vpn-setup.md#3` retrieved or cited counts
for an expected `vpn-setup.md`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from chatfleet.chat.embeddings import Embedder
from chatfleet.eval import lexical
from chatfleet.eval.cases import EvalCase
from chatfleet.eval.client import RetrievedSource, Turn

SUPPORT_THRESHOLD = 0.6
"""A sentence is supported when 0.5 * lexical containment + 0.5 * best cosine reaches this (and its
numbers all occur in the source)."""

_NO_ANSWER = re.compile(
    r"\b(couldn't|could not|can't|cannot|don't|do not|doesn't|does not|unable to|no information|not found)\b"
    r"[^.]{0,80}?\b(find|answer|know|information|contain|mention|cover)",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")


def is_refusal(answer: str) -> bool:
    """The no-answer reply: no citation and a "can't find / don't know" statement (or no answer at all)."""
    text = answer.replace("\u2019", "'").strip()
    return not lexical.citations(text) and (not text or _NO_ANSWER.search(text) is not None)


def _expected(case: EvalCase) -> set[str]:
    return {lexical.document_of(source) for source in case.expected_sources}


def recall_at_k(case: EvalCase, retrieved: Sequence[RetrievedSource]) -> float | None:
    """Share of the expected documents among the k retrieved sources (k = what the service retrieved)."""
    expected = _expected(case)
    if not expected:
        return None
    found = {lexical.document_of(r.source or r.id) for r in retrieved}
    return len(expected & found) / len(expected)


def reciprocal_rank(case: EvalCase, retrieved: Sequence[RetrievedSource]) -> float | None:
    """1 / rank of the first retrieved source from an expected document; 0 when none was retrieved."""
    expected = _expected(case)
    if not expected:
        return None
    for rank, source in enumerate(retrieved, start=1):
        if lexical.document_of(source.source or source.id) in expected:
            return 1.0 / rank
    return 0.0


def citation_validity(answer: str, retrieved: Sequence[RetrievedSource]) -> float | None:
    """1 when every id the answer cites was among the retrieved sources, else 0; None without citations."""
    cited = lexical.citations(answer)
    if not cited:
        return None
    ids = {r.id for r in retrieved}
    return 1.0 if all(c in ids for c in cited) else 0.0


def citation_coverage(case: EvalCase, answer: str) -> float | None:
    """1 when the answer cites at least one expected document, else 0 (answerable cases only)."""
    expected = _expected(case)
    if not expected:
        return None
    return 1.0 if any(lexical.document_of(c) in expected for c in lexical.citations(answer)) else 0.0


def correctness(case: EvalCase, answer: str) -> float | None:
    """Share of the reference's content words the answer contains (a refusal contains none)."""
    if case.reference is None:
        return None
    if is_refusal(answer):
        return 0.0
    return lexical.containment(case.reference, lexical.CITATION.sub(" ", answer))


def refusal_accuracy(case: EvalCase, answer: str) -> float:
    """1 when the service refused exactly when the case is unanswerable (its tenant's corpus lacks it)."""
    return 1.0 if is_refusal(answer) == (not case.answerable) else 0.0


@dataclass
class Groundedness:
    """Share of an answer's sentences supported by the sources they cite, judged with a local embedder
    and lexical overlap: deterministic, offline, no model deployment needed."""

    embedder: Embedder

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

    def score(self, answer: str, retrieved: Sequence[RetrievedSource]) -> float | None:
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


def case_metrics(case: EvalCase, turn: Turn, groundedness: Groundedness) -> dict[str, float | None]:
    """Every metric of one case; a failed turn scores 0 wherever a metric applies."""
    if turn.error is not None:
        failed: dict[str, float | None] = {
            "recall_at_k": 0.0 if case.expected_sources else None,
            "mrr": 0.0 if case.expected_sources else None,
            "citation_validity": None,
            "citation_coverage": 0.0 if case.expected_sources else None,
            "groundedness": None,
            "correctness": 0.0 if case.reference is not None else None,
            "refusal_accuracy": 0.0,
        }
        return failed
    return {
        "recall_at_k": recall_at_k(case, turn.retrieved),
        "mrr": reciprocal_rank(case, turn.retrieved),
        "citation_validity": citation_validity(turn.answer, turn.retrieved),
        "citation_coverage": citation_coverage(case, turn.answer),
        "groundedness": groundedness.score(turn.answer, turn.retrieved),
        "correctness": correctness(case, turn.answer),
        "refusal_accuracy": refusal_accuracy(case, turn.answer),
    }
