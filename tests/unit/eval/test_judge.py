"""The LLM judge: reading its ratings, and what happens when it throttles or answers nonsense (over real
HTTP to a loopback stand-in for Azure OpenAI): retried, then unscored with the reason, never made up."""

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from chatfleet.eval.client import RetrievedSource
from chatfleet.eval.judge import (
    ATTEMPTS,
    Judge,
    JudgeOutputError,
    JudgeSettings,
    JudgeUnavailable,
    context_text,
    conversation_text,
    parse_rating,
)
from tests.helpers.http_stub import JsonHandler, serve_http


@pytest.mark.parametrize(
    ("text", "score", "reason"),
    [
        ('{"reason": "Let\'s think step by step: fine.", "score": 5}', 5, "Let's think step by step: fine."),
        ('```json\n{"score": 3, "reason": "nothing to ground"}\n```', 3, "nothing to ground"),
        ('Here is my rating: {"score": "4"}', 4, ""),
        ('{"score": 2.0, "reason": 7}', 2, ""),
    ],
)
def test_ratings_are_read_from_the_judges_json(text: str, score: int, reason: str) -> None:
    assert parse_rating(text) == (score, reason)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no JSON object"),
        ("I'd give it a 5.", "no JSON object"),
        ('{"score": 5', "no JSON object"),
        ('{"score": five}', "not valid JSON"),
        ('["score", 5]', "no JSON object"),
        ('{"reason": "fine"}', "score None is not an integer from 1 to 5"),
        ('{"score": 0}', "score 0 is not"),
        ('{"score": 6}', "score 6 is not"),
        ('{"score": 4.5}', "score 4.5 is not"),
        ('{"score": true}', "score True is not"),
        ('{"score": null, "status": "skipped"}', "score None is not"),
    ],
)
def test_anything_but_a_rating_on_the_scale_is_refused(text: str, message: str) -> None:
    with pytest.raises(JudgeOutputError, match=message):
        parse_rating(text)


def test_the_judge_sees_the_conversation_and_the_sources_as_the_answer_prompt_lists_them() -> None:
    assert conversation_text([], "How long is the warranty?") == "How long is the warranty?"
    history = [{"role": "user", "content": "Hi\nthere"}, {"role": "assistant", "content": "Hello."}]
    expected = "user: Hi there\nassistant: Hello.\nuser: And the VPN?"
    assert conversation_text(history, "And the VPN?") == expected
    sources = [RetrievedSource("a.md#0", "a.md", "one\ntwo"), RetrievedSource("b.md#1", "b.md", "x")]
    assert context_text(sources) == "[a.md#0]: one two\n[b.md#1]: x"


def completion(content: str) -> dict:
    message = {"role": "assistant", "content": content}
    return {
        "id": "c1",
        "object": "chat.completion",
        "created": 0,
        "model": "judge",
        "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
    }


@contextmanager
def azure_openai(replies: list[tuple[int, object, dict[str, str]]]) -> Iterator[tuple[str, list[dict]]]:
    """A loopback stand-in for one Azure OpenAI deployment: answers the queued replies in order (the last
    one again once the queue is used up) and records every request body."""
    seen: list[dict] = []

    class Handler(JsonHandler):
        def do_POST(self) -> None:
            seen.append({"path": self.path, "key": self.headers.get("api-key"), "body": self.read_json()})
            status, body, headers = replies[min(len(seen), len(replies)) - 1]
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    with serve_http(Handler, "aoai-stub") as url:
        yield url, seen


def rate(url: str) -> tuple[Judge, dict]:
    judge = Judge(JudgeSettings(url, "judge-4o", api_key="secret-key"))
    judge._sleep = lambda seconds: None  # the waits are checked by what was asked, not by the clock
    try:
        return judge, judge.rate_case("How long is the warranty?", [], "Two years [w.md#0].", [])
    finally:
        judge.close()


def test_a_rating_is_one_call_with_the_library_prompt_and_json_output() -> None:
    with azure_openai([(200, completion('{"reason": "ok", "score": 5}'), {})]) as (url, seen):
        judge, ratings = rate(url)
    assert {m: r.score for m, r in ratings.items()} == {"judge_groundedness": 5, "judge_relevance": 5}
    assert len(seen) == 2 and seen[0]["path"].startswith("/openai/deployments/judge-4o/chat/completions")
    assert seen[0]["key"] == "secret-key"
    body = seen[0]["body"]
    assert body["temperature"] == 0 and body["response_format"] == {"type": "json_object"}
    user = body["messages"][1]["content"]
    assert "Groundedness" in user and "Two years [w.md#0]." in user
    assert judge.describe()["prompts"] == {"judge_groundedness": "1", "judge_relevance": "1"}


def test_unparsable_output_is_retried_then_the_case_is_unscored() -> None:
    replies = [(200, completion("It is pretty good, 4/5."), {}), (200, completion('{"score": 4}'), {})]
    with azure_openai(replies) as (url, seen):
        _, ratings = rate(url)
    assert ratings["judge_groundedness"].score == 4  # the retry mended it
    assert len(seen) == 3

    with azure_openai([(200, completion("I cannot rate this."), {})]) as (url, seen):
        _, ratings = rate(url)
    assert len(seen) == 2 * ATTEMPTS
    for rating in ratings.values():
        assert rating.score is None
        assert rating.error == (
            f"no JSON object in the judge's reply: 'I cannot rate this.' after {ATTEMPTS} attempts"
        )


def test_throttling_is_retried_after_retry_after_then_unscored() -> None:
    throttled = (429, {"error": {"code": "429", "message": "Rate limit"}}, {"retry-after-ms": "2500"})
    with azure_openai([throttled]) as (url, seen):
        judge = Judge(JudgeSettings(url, "judge-4o", api_key="k"))
        waits: list[float] = []
        judge._sleep = waits.append
        rating = judge.rate(judge.prompts["judge_relevance"], {"query": "q", "response": "r"})
    assert rating.score is None and rating.error == f"throttled (HTTP 429) after {ATTEMPTS} attempts"
    assert len(seen) == ATTEMPTS and waits == [2.5] * (ATTEMPTS - 1)


def test_a_refused_key_or_unknown_deployment_stops_the_run() -> None:
    for status in (401, 404):
        refused = (status, {"error": {"code": str(status), "message": "nope"}}, {})
        with azure_openai([refused]) as (url, _), pytest.raises(JudgeUnavailable, match=f"HTTP {status}"):
            rate(url)
