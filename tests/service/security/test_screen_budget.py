"""Issue 15: the per-request screening budget, on the real `chatfleet serve` over HTTP.

The replica runs with CHATFLEET_GUARDS_BUDGET_MS shrunk far below the cost of screening one turn, so every
conversation that brings two or more earlier turns the replica has not seen exceeds it. Such a request must
fail closed as docs/security.md says (413 `input-too-large`, `"limit": "guards_budget_ms"`, before anything
reaches the model) on every chat route, while an answer streaming on the same replica keeps flowing and
arrives whole; a growing conversation (one new earlier turn a request) still gets its answer.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import string
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers.serve import ServiceProcess, serve_subprocess

pytestmark = pytest.mark.service

BUDGET_MS = 0.05  # screening any turn costs more: the check before the second new turn always trips
TENANT = {"X-Chatfleet-Tenant": "contoso"}
PROBLEM = "application/problem+json"
ROUTES = ["/chat", "/chat/stream", "/v1/chat/completions"]
STALL_S = 1.0  # a gap longer than this is a stalled stream (lines arrive every ~50 ms; a screen without
# a budget held the loop 0.2-0.4 s per 8,000 characters of newlines, seconds per conversation)
_R = random.Random(15)


def _new_text(chars: int) -> str:
    """Words never sent before: no verdict of this replica's cache applies."""
    words = ("".join(_R.choices(string.ascii_lowercase, k=_R.randint(2, 9))) for _ in range(chars))
    return " ".join(words)[:chars]


def _long_conversation() -> list[dict[str, str]]:
    """Eight earlier turns of new text (27,000 characters in all, under the 32,000 limit) and a question."""
    earlier = [{"role": role, "content": _new_text(3_300)} for role in ("user", "assistant") * 4]
    return [*earlier, {"role": "user", "content": "How do I reset my password?"}]


@pytest.fixture(scope="module")
def service() -> Iterator[ServiceProcess]:
    env = {"CHATFLEET_GUARDS_BUDGET_MS": str(BUDGET_MS), "CHATFLEET_METRICS_PORT": "0"}
    with serve_subprocess(env, "--dev", "--simulator-tokens-per-second", "40") as served:
        yield served


async def _post(client: httpx.AsyncClient, route: str, messages: list[dict[str, str]]) -> httpx.Response:
    if route.startswith("/v1/"):
        return await client.post(route, json={"model": "chatfleet-rag", "messages": messages})
    return await client.post(route, json={"messages": messages})


def _assert_over_budget(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text[:300]
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["type"].endswith("/input-too-large"), problem
    assert problem["limit"] == "guards_budget_ms" and problem["max"] == BUDGET_MS, problem
    assert "CHATFLEET_GUARDS_BUDGET_MS" in problem["detail"]


async def _stream(client: httpx.AsyncClient, started: asyncio.Event) -> list[tuple[float, str]]:
    """A streaming answer on the same replica: every line with the time it arrived."""
    body = {"messages": [{"role": "user", "content": "How do I connect to the VPN?"}]}
    lines: list[tuple[float, str]] = []
    async with client.stream("POST", "/chat/stream", json=body) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line:
                lines.append((time.monotonic(), line))
                started.set()
    return lines


def test_over_budget_conversations_are_refused_while_a_stream_keeps_flowing(service: ServiceProcess) -> None:
    conversations = [_long_conversation() for _ in range(30)]  # made before: the client's loop stays free

    async def scenario() -> tuple[list[tuple[float, str]], list[tuple[float, float]], int]:
        async with httpx.AsyncClient(base_url=service.url, headers=TENANT, timeout=60) as client:
            started = asyncio.Event()
            stream = asyncio.create_task(_stream(client, started))
            await asyncio.wait_for(started.wait(), 30)
            attacks: list[tuple[float, float]] = []
            refused = 0
            while not stream.done() and conversations:
                sent = time.monotonic()
                response = await _post(client, ROUTES[len(attacks) % len(ROUTES)], conversations.pop())
                _assert_over_budget(response)
                refused += 1
                attacks.append((sent, time.monotonic()))
            return await stream, attacks, refused

    lines, attacks, refused = asyncio.run(scenario())
    assert refused >= len(ROUTES), f"only {refused} refusals landed while the answer streamed"
    assert "error" not in json.loads(lines[-1][1]) and any("delta" in line for _, line in lines)
    during = [t for t, _ in lines if attacks[0][0] <= t <= attacks[-1][1] + STALL_S]
    gaps = [b - a for a, b in itertools.pairwise(during)]
    assert len(during) >= 3, "the answer did not stream while the refused requests ran"
    assert max(gaps) < STALL_S, f"the stream stalled {max(gaps):.2f} s while over-budget requests ran"


def test_a_growing_conversation_is_answered_under_the_same_budget(service: ServiceProcess) -> None:
    """Each request of a growing conversation brings one earlier turn the replica has not screened (the
    last answer; the previous question was screened as a question): no budget check trips."""

    async def scenario() -> list[int]:
        async with httpx.AsyncClient(base_url=service.url, headers=TENANT, timeout=60) as client:
            messages = [{"role": "user", "content": "How do I reset my password?"}]
            statuses = []
            for follow_up in ("And if I forgot my username?", "Thanks, what about the VPN?"):
                response = await client.post("/chat", json={"messages": messages})
                statuses.append(response.status_code)
                answer = response.json()["message"]["content"]
                messages += [{"role": "assistant", "content": answer}, {"role": "user", "content": follow_up}]
            statuses.append((await client.post("/chat", json={"messages": messages})).status_code)
            return statuses

    assert asyncio.run(scenario()) == [200, 200, 200]
