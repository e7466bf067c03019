"""The groundedness sampler (draw, bounded queue, scoring off the caller's path) with the real rule and
embedder, and the recent turns feedback is checked against when history does not keep them."""

from __future__ import annotations

import asyncio
import json

from chatfleet.chat.embeddings import load_embedder
from chatfleet.chat.feedback import RatedTurn, RecentTurns, log_feedback
from chatfleet.chat.protocol import Citation
from chatfleet.chat.quality import AnswerSample, QualitySampler
from chatfleet.contracts.feedback import parse_feedback_line
from chatfleet.contracts.groundedness import Groundedness

HOTEL = "The hotel limit is 350 USD per night in London."
SOURCES = [Citation(id="expense.md#1", source="expense.md", title="Expenses", content=HOTEL, score=1.0)]


def sample(answer: str) -> AnswerSample:
    return AnswerSample(answer=answer, sources=SOURCES, prompt_version="2", deployment="primary")


async def test_drawn_answers_are_scored_with_the_eval_rule_and_the_rest_skipped() -> None:
    scores: list[tuple[str, float]] = []
    draws = iter([0.05, 0.5, 0.05, 0.05])  # rate 0.1: the 1st, 3rd and 4th are drawn
    sampler = QualitySampler(
        Groundedness(load_embedder("wordllama")),
        rate=0.1,
        queue_size=10,
        observe=lambda s, score: scores.append((s.answer, score)),
        draw=lambda: next(draws),
    )
    sampler.start()
    try:
        assert sampler.offer(sample(f"{HOTEL[:-1]} [expense.md#1]."))
        assert not sampler.offer(sample("not drawn [expense.md#1]."))
        assert sampler.offer(sample("The hotel limit is 900 USD per night in London [expense.md#1]."))
        assert sampler.offer(sample("I couldn't find that in the documents."))  # a refusal: nothing to score
        await asyncio.wait_for(sampler.flush(), 30)
    finally:
        await sampler.aclose()
    assert [round(score, 2) for _, score in scores] == [1.0, 0.0], "the wrong figure is not grounded"


async def test_a_full_queue_drops_and_counts_without_waiting() -> None:
    dropped: list[int] = []
    sampler = QualitySampler(
        Groundedness(load_embedder("wordllama")),
        rate=1.0,
        queue_size=1,
        observe=lambda s, score: None,
        on_drop=lambda: dropped.append(1),
    )  # not started: nothing drains the queue
    assert sampler.offer(sample("one [expense.md#1]."))
    assert not sampler.offer(sample("two [expense.md#1]."))
    assert dropped == [1]
    await sampler.aclose()


def rated(turn_id: str, tenant: str = "contoso", user: str | None = "ada") -> RatedTurn:
    return RatedTurn(turn_id, tenant, user, {"answer": "2"}, "primary", [{"id": "a.md#1", "source": "a.md"}])


def test_recent_turns_belong_to_their_owner_and_are_bounded() -> None:
    recent = RecentTurns(capacity=2)
    for turn_id in ("t1", "t2", "t3"):
        recent.add(rated(turn_id))
    assert recent.find("t1", "contoso", "ada") is None, "the oldest was forgotten"
    assert recent.find("t3", "contoso", "ada") is not None
    assert recent.find("t3", "contoso", "bob") is None
    assert recent.find("t3", "fabrikam", "ada") is None


def test_the_feedback_log_line_round_trips_and_leaves_out_the_user() -> None:
    line = log_feedback(rated("t1", user="ada-oid"), "down", "stale", at=10.0)
    record = parse_feedback_line(f"2026-12-07 16:00:00 INFO chatfleet.chat.feedback: {line}")
    assert record is not None
    assert (record.turn_id, record.rating, record.comment, record.question) == ("t1", "down", "stale", None)
    assert [s.source for s in record.sources] == ["a.md"]
    assert "ada-oid" not in line and "question" not in json.loads(line)
    assert parse_feedback_line("2026-12-07 INFO chatfleet.chat.turns: turn tenant=contoso") is None
