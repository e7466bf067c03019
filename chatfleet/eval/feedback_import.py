"""Thumbs-down answers turned into draft eval cases (`chatfleet eval import-feedback`).

A user's thumbs-down is the cheapest label production gives: the question the service got wrong. Each one
becomes a case marked `review: true`, with the tenant, the question (and the conversation before it, from
history), the sources the answer cited as a starting point for `expected_sources`, and the user's comment.
An app team confirms or corrects the expectations and removes the flag; until then `eval run` refuses it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from chatfleet.chat.history.sqlite_store import read_rated_turns
from chatfleet.contracts import lexical
from chatfleet.contracts.feedback import FeedbackLogRecord, parse_feedback_line
from chatfleet.eval.cases import EvalCase, HistoryTurn


@dataclass
class Imported:
    cases: list[EvalCase] = field(default_factory=list)
    without_question: int = 0
    """Log records of thumbs-down turns that carry no question (content logging was off): not importable."""


def _documents(sources: Iterable[str]) -> list[str]:
    """Cited chunks `docs/vpn.md#2` as the documents eval sets name (`vpn.md`), first cited first."""
    return list(dict.fromkeys(lexical.document_of(s) for s in sources if s))


def _case(turn_id: str, question: str, tenant: str, sources: list[str], comment: str | None) -> EvalCase:
    return EvalCase(
        id=f"feedback-{turn_id}",
        question=question[:4000],
        tenant=tenant,
        expected_sources=_documents(sources),
        review=True,
        comment=comment,
    )


def from_history(path: Path) -> Imported:
    """Thumbs-down turns of a history SQLite file, each with its session's earlier turns as history."""
    result = Imported()
    for rated in read_rated_turns(path, "down"):
        turn = rated.turn
        sources = [str(s.get("source") or s.get("id") or "") for s in turn.sources]
        case = _case(turn.turn_id or rated.session_id, turn.question, rated.tenant, sources, turn.comment)
        for earlier in rated.earlier:
            case.history += [
                HistoryTurn(role="user", content=earlier.question),
                HistoryTurn(role="assistant", content=earlier.answer or "(no answer)"),
            ]
        result.cases.append(case)
    return result


def from_log(path: Path) -> Imported:
    """Thumbs-down turns of the service's log (JSON feedback lines among any other lines). Each rating is a
    line, so a turn's latest line is its verdict: 👎 then 👎 with a comment is one case, with the comment;
    👎 then 👍 is none."""
    result = Imported()
    latest: dict[str, FeedbackLogRecord] = {}
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            record = parse_feedback_line(line)
            if record is not None:
                latest[record.turn_id] = record
    for record in latest.values():
        if record.rating != "down":
            continue
        if not record.question:
            result.without_question += 1
            continue
        sources = [s.source or s.id for s in record.sources]
        result.cases.append(_case(record.turn_id, record.question, record.tenant, sources, record.comment))
    return result
