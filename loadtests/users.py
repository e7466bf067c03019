"""The Locust user that holds multi-turn conversations with the chat service's streaming API.

Each turn is one `POST /chat/stream`; the JSON lines are read as they arrive (line by line, not in fixed
size blocks, so time-to-first-token is when the first content delta arrived, not when a buffer filled).
Besides the request row, each answer fires a `TTFT` row (ms) and a `TPS` row (tokens/s in the time
column, output tokens in the size column), so Locust's UI, CSV and our summary show them.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any, Protocol

from locust import FastHttpUser, task
from locust.contrib.fasthttp import FastResponse

from chatfleet.contracts.tenancy import DEV_TENANT_HEADER
from chatfleet.loadtests.conversations import Conversation
from chatfleet.loadtests.options import LONG_ANSWER_MAX_TOKENS, RunPlan, plan_for
from chatfleet.loadtests.stream import ChatStreamReader, StreamResult

CHAT_PATH = "/chat/stream"
TTFT_ROW = "TTFT"
TPS_ROW = "TPS"
TENANT_LEAK = "tenant leak"


def row_name(step: str | None) -> str:
    """Calibration runs split rows per step; warm-up requests of a step keep the plain name."""
    return f"{CHAT_PATH} [{step}]" if step else CHAT_PATH


class LineSink(Protocol):
    def feed(self, raw: bytes) -> None: ...


def read_lines(response: FastResponse, reader: LineSink) -> tuple[int, bool, str | None]:
    """Feeds the body line by line; returns (bytes read, ended cleanly, transport error).

    geventhttpclient's `readline` returns as soon as a line is complete, unlike `iter_content`, which
    waits for a full block. "Cleanly" means the HTTP message completed (final chunk); a connection cut
    mid-answer leaves it incomplete, which is how truncated streams are told apart.
    """
    body = response._response
    if body is None:
        return 0, False, "no response body"
    size = 0
    try:
        while True:
            line = body.readline(b"\n")
            if not line:
                break
            size += len(line)
            reader.feed(line)
    except Exception as error:  # any transport failure mid-body is a truncated stream
        return size, False, f"{type(error).__name__}: {error}"[:200]
    return size, bool(body.message_complete), None


def fire_stream_rows(environment: Any, name: str, result: StreamResult, context: dict[str, Any]) -> None:
    """The TTFT row (ms) and TPS row (tokens/s in the time column, tokens in the size column)."""
    fire = environment.events.request.fire
    if result.ttft_ms is not None:
        fire(
            request_type=TTFT_ROW,
            name=name,
            response_time=result.ttft_ms,
            response_length=result.output_tokens,
            exception=None,
            context=context,
        )
    if result.tokens_per_second is not None:
        fire(
            request_type=TPS_ROW,
            name=name,
            response_time=result.tokens_per_second,
            response_length=result.output_tokens,
            exception=None,
            context=context,
        )


def _problem(response: FastResponse) -> str:
    """A short reason from an error response (problem+json title/detail when the service sent one)."""
    try:
        document = json.loads(response.content or b"{}")
    except (ValueError, TypeError, OSError):
        return ""
    if isinstance(document, dict):
        detail = document.get("title") or document.get("detail") or document.get("error") or ""
        return str(detail)[:120]
    return ""


class ChatUser(FastHttpUser):
    """One person chatting: picks a conversation of its tenant and asks its questions turn by turn."""

    network_timeout = 120.0
    connection_timeout = 10.0

    plan: RunPlan
    tenant: str
    conversation: Conversation | None
    turn: int
    history: list[dict[str, str]]

    def wait_time(self) -> float:
        low, high = self.plan.think_time
        return random.uniform(low, high)  # noqa: S311 - think time, not security

    def on_start(self) -> None:
        self.plan = plan_for(self.environment)
        self.tenant = self.plan.next_tenant()
        self.rng = random.Random()  # noqa: S311 - picks conversations
        self.conversation = None
        self.turn = 0
        self.history = []

    def _headers(self) -> dict[str, str]:
        # The tenant header selects the tenant in dev mode; with auth on the service takes the tenant
        # from the verified token only, so sending both is harmless and works for either mode.
        headers = {"Accept": "application/jsonl, application/json", DEV_TENANT_HEADER: self.tenant}
        token = self.plan.token_for(self.tenant)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _next_question(self) -> str:
        if self.conversation is None or self.turn >= len(self.conversation.turns):
            long = self.plan.scenario == "long-answers"
            self.conversation = self.plan.book.pick(self.tenant, self.rng, long=long)
            self.turn, self.history = 0, []
        return self.conversation.turns[self.turn]

    @task
    def converse(self) -> None:
        question = self._next_question()
        messages = [*self.history, {"role": "user", "content": question}]
        result = self.ask(messages)
        if result is None or result.failure:
            self.conversation = None  # a failed turn ends the conversation, like a user giving up
            return
        self.history = [*messages, {"role": "assistant", "content": result.content}]
        self.turn += 1

    def ask(self, messages: list[dict[str, str]]) -> StreamResult | None:
        """One streamed answer, recorded as the request row plus TTFT and TPS rows."""
        overrides: dict[str, Any] = {}
        if self.plan.scenario == "long-answers":
            overrides["max_tokens"] = LONG_ANSWER_MAX_TOKENS
        body = {"messages": messages, "context": {"overrides": overrides}, "session_state": None}
        name = row_name(self.plan.step_label(self.environment))
        reader = ChatStreamReader(started=time.perf_counter())
        with self.client.request(
            "POST", CHAT_PATH, name=name, json=body, headers=self._headers(), stream=True, catch_response=True
        ) as response:
            status = response.status_code
            if status == 0:
                error = getattr(response, "error", None)
                response.failure(f"connection error: {type(error).__name__}")
                return None
            if status >= 400:
                response.failure(f"http {status}: {_problem(response)}".rstrip(": "))
                return None
            size, clean, transport_error = read_lines(response, reader)
            result = reader.finish(clean, transport_error)
            response.request_meta["response_time"] = result.total_ms
            response.request_meta["response_length"] = size
            leaks = self.plan.corpus.leaks(self.tenant, result.content, result.data_points)
            if leaks:  # worse than any other failure, so it names the failure
                response.failure(f"{TENANT_LEAK}: {self.tenant} user was shown {leaks[0]}")
            elif result.failure:
                response.failure(result.failure)
            else:
                response.success()
        fire_stream_rows(self.environment, name, result, {"tenant": self.tenant})
        return result
