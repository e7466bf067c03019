"""The per-case metrics, each a pure function of the case and the service's turn (formulas in
docs/evaluation.md). None means "does not apply to this case" and is left out of the averages.

Documents are compared by file name (`lexical.document_of`), so `vpn-setup.md#3` retrieved or cited counts
for an expected `vpn-setup.md`.
"""

from __future__ import annotations

from collections.abc import Sequence

from chatfleet.contracts import lexical
from chatfleet.contracts.groundedness import Groundedness, is_refusal
from chatfleet.eval.cases import EvalCase
from chatfleet.eval.client import RetrievedSource, Turn


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
