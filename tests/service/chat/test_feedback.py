"""Feedback and sampled groundedness through the real service (dev mode, real SQLite history, the simulator):
a rating is tied to the turn of the closing line's `turn_id`, stored on it (history on) or written as one JSON
log line (history off), counted by prompt version; a sampled answer is scored after it ended."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import httpx

from chatfleet.chat.problems import PROBLEM_BASE
from chatfleet.contracts.feedback import parse_feedback_line

QUESTION = {"messages": [{"role": "user", "content": "What does error E1 mean on my thermostat?"}]}


async def streamed_turn(client: httpx.AsyncClient) -> tuple[str, str]:
    """Streams one answer; returns (turn_id from the closing line, session id)."""
    async with client.stream("POST", "/chat/stream", json=QUESTION) as response:
        assert response.status_code == 200
        lines = [json.loads(line) async for line in response.aiter_lines() if line]
    closing = lines[-1]
    assert "error" not in closing, closing
    return closing["context"]["turn_id"], closing["session_state"]


async def until(check: Any, what: str) -> Any:
    async with asyncio.timeout(10):
        while not (result := await check()):  # noqa: ASYNC110 (polls another thread's writer over HTTP)
            await asyncio.sleep(0.05)
    assert result, what
    return result


def feedback_count(service: Any, rating: str) -> float:
    registry = service.app.state.runtime.metrics.registry
    total = 0.0
    for metric in registry.collect():
        if metric.name == "chatfleet_feedback":
            total += sum(s.value for s in metric.samples if s.labels.get("rating") == rating)
    return total


async def test_a_thumbs_down_is_stored_on_the_turn_and_counted(stack, tmp_path: Path) -> None:
    settings = stack.settings(history_path=tmp_path / "history.sqlite", quality_sample_rate=0)
    with stack.serve(settings) as service:
        async with service.client("fabrikam") as client:
            turn_id, session_id = await streamed_turn(client)
            before, ups = feedback_count(service, "down"), feedback_count(service, "up")
            # the page's flow: 👎 first, then 👎 again with the comment; counted once
            thumb = await client.post("/chat/feedback", json={"turn_id": turn_id, "rating": "down"})
            assert thumb.status_code == 200, thumb.text
            rated = await client.post(
                "/chat/feedback", json={"turn_id": turn_id, "rating": "down", "comment": "Wrong model."}
            )
            assert rated.status_code == 200, rated.text
            assert rated.json() == {
                "turn_id": turn_id,
                "rating": "down",
                "comment": "Wrong model.",
                "stored": "history",
            }
            assert feedback_count(service, "down") == before + 1

            session = (await client.get(f"/chat_history/sessions/{session_id}")).json()
            turn = session["answers"][0]
            assert (turn["turn_id"], turn["rating"], turn["comment"]) == (turn_id, "down", "Wrong model.")

            again = await client.post("/chat/feedback", json={"turn_id": turn_id, "rating": "up"})
            assert again.status_code == 200
            session = (await client.get(f"/chat_history/sessions/{session_id}")).json()
            assert (session["answers"][0]["rating"], session["answers"][0]["comment"]) == ("up", None)
            # a changed rating counts the new one
            assert (feedback_count(service, "down"), feedback_count(service, "up")) == (before + 1, ups + 1)

            async with service.client("contoso") as other_tenant:  # the same dev user, another tenant
                foreign = await other_tenant.post(
                    "/chat/feedback", json={"turn_id": turn_id, "rating": "down"}
                )
                assert foreign.status_code == 404
                assert foreign.json()["type"] == f"{PROBLEM_BASE}not-found"
            unknown = await client.post("/chat/feedback", json={"turn_id": "0" * 32, "rating": "down"})
            assert unknown.status_code == 404


BAD = [
    ({"turn_id": "x" * 32, "rating": "meh"}, "rating"),
    ({"turn_id": "no spaces allowed", "rating": "up"}, "turn_id"),
    ({"turn_id": "x" * 32, "rating": "up", "extra": 1}, "extra"),
    ({"turn_id": "x" * 32, "rating": "up", "comment": "c" * 101}, "longer than 100"),
]


async def test_bad_feedback_is_a_problem_and_changes_nothing(stack) -> None:
    settings = stack.settings(history_enabled=False, quality_sample_rate=0, feedback_comment_chars=100)
    with stack.serve(settings) as service:
        async with service.client("contoso") as client:
            turn_id, _ = await streamed_turn(client)
            for body, detail in BAD:
                response = await client.post("/chat/feedback", json=body)
                assert response.status_code == 422, body
                assert response.headers["content-type"].startswith("application/problem+json")
                assert detail in response.text, (body, response.text)
            too_long = {"turn_id": turn_id, "rating": "up", "comment": "c" * 101}
            long = await client.post("/chat/feedback", json=too_long)
            assert long.status_code == 422, "a real turn with a too long comment is refused too"
            assert feedback_count(service, "up") == 0


async def test_without_history_feedback_is_one_json_log_line(stack, caplog) -> None:
    settings = stack.settings(history_enabled=False, quality_sample_rate=0, log_content=False)
    with stack.serve(settings) as service, caplog.at_level(logging.INFO, logger="chatfleet.chat.feedback"):
        async with service.client("contoso") as client:
            turn_id, _ = await streamed_turn(client)
            before = feedback_count(service, "down")
            thumb = await client.post("/chat/feedback", json={"turn_id": turn_id, "rating": "down"})
            assert thumb.status_code == 200 and thumb.json()["stored"] == "log"
            rating = {"turn_id": turn_id, "rating": "down", "comment": "Ask Dana at 555-0100"}
            rated = await client.post("/chat/feedback", json=rating)
            assert rated.status_code == 200 and rated.json()["stored"] == "log"
            assert feedback_count(service, "down") == before + 1, "the same rating with a comment: once"
            async with service.client("fabrikam") as other_tenant:
                foreign = await other_tenant.post("/chat/feedback", json={"turn_id": turn_id, "rating": "up"})
                assert foreign.status_code == 404
    lines = [r.getMessage() for r in caplog.records if r.name == "chatfleet.chat.feedback"]
    assert len(lines) == 2  # each rating is a log line; the latest one per turn is the user's verdict
    record = parse_feedback_line(lines[1])
    assert record is not None
    assert (record.turn_id, record.tenant, record.rating) == (turn_id, "contoso", "down")
    assert record.question is None, "no question text without content logging"
    assert record.comment is None and "555-0100" not in lines[1], "nor the user's comment"
    assert record.deployment and record.prompt_versions["answer"]
    assert "thermostat" not in "".join(lines)


async def test_a_sampled_answer_is_scored_after_it_ended(stack) -> None:
    with stack.serve(stack.settings(history_enabled=False, quality_sample_rate=1.0)) as service:
        async with service.client("fabrikam") as client:
            await streamed_turn(client)
        runtime = service.app.state.runtime

        async def scored() -> list[Any]:
            return [
                s
                for metric in runtime.metrics.registry.collect()
                if metric.name == "chatfleet_answer_groundedness"
                for s in metric.samples
                if s.name.endswith("_count") and s.value
            ]

        (sample,) = await until(scored, "the sampled answer's groundedness")
        assert sample.labels["prompt_version"] == runtime.prompts.versions()["answer"]
        assert sample.labels["deployment"] != "unknown"
        assert runtime.metrics.registry.get_sample_value("chatfleet_quality_samples_dropped_total") == 0


async def test_the_feedback_buttons_are_a_static_script_under_the_strict_policy(service) -> None:
    async with service.client(None) as client:
        page = await client.get("/")
        script = await client.get("/static/feedback.js")
    assert '<script src="/static/feedback.js"></script>' in page.text
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "/chat/feedback" in script.text and "addEventListener" in script.text
    policy = page.headers["content-security-policy"]
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert " on" + "click=" not in page.text.lower() and "onclick" not in script.text
