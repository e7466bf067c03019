"""One streaming attempt (`LLMRouter.stream`) on one deployment, and the parsing of its server-sent events.

`start()` reads up to the first token, while failing over is still possible; `rest()` hands out the tokens
and ends with StreamEnd or UpstreamStreamBroken, since tokens the caller already has cannot be taken back.
"""

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

import httpx2
from openai import AsyncAzureOpenAI

from chatfleet.chat.llm import metrics
from chatfleet.chat.llm.errors import ContentFiltered, DeadlineExceeded, UpstreamStreamBroken
from chatfleet.chat.llm.failures import FailOver, classify_failure, filtered_categories
from chatfleet.chat.llm.health import DeploymentHealth
from chatfleet.chat.llm.limits import AttemptLimits
from chatfleet.chat.llm.outcomes import (
    book_failure,
    book_outcome,
    book_success,
    end_call,
    observe_quota_headers,
    start_call,
)
from chatfleet.chat.llm.results import StreamDelta, StreamEnd
from chatfleet.chat.llm.tracing import (
    end_failure,
    end_success,
    record_first_chunk,
    start_attempt_span,
    trace_headers,
)
from chatfleet.contracts.tokens import estimate_message_tokens


class _StreamErrorEvent(Exception):
    """The upstream reported an error inside an already started stream."""


def _stream_body(
    deployment: str,
    messages: list[dict[str, str]],
    max_tokens: int,
    temperature: float | None,
    seed: int | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": deployment,
        "messages": messages,
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if temperature is not None:
        body["temperature"] = temperature
    if seed is not None:
        body["seed"] = seed
    return body


class StreamAttempt:
    """One streaming attempt: `start()` reads up to the first token (failing over is still possible),
    `rest()` hands out the tokens and ends with StreamEnd or UpstreamStreamBroken."""

    def __init__(
        self,
        client: AsyncAzureOpenAI,
        limits: AttemptLimits,
        health: DeploymentHealth,
        deadline: float,
        attempt: int,
        operation: str,
        max_tokens: int,
        temperature: float | None,
        seed: int | None,
    ) -> None:
        self.client = client
        self.limits = limits
        self.health = health
        self.deadline = deadline
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed
        self.span = start_attempt_span(
            health.config,
            purpose=operation,
            attempt=attempt,
            max_tokens=max_tokens,
            temperature=temperature,
            seed=seed,
            streaming=True,
        )
        self._response: Any = None
        self._lines: AsyncIterator[str] | None = None
        self.first_text = ""
        self.ttft_s = 0.0
        self.model = health.config.deployment
        self.response_id: str | None = None
        self.finish_reason: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.content_chunks = 0
        self.estimated_input = 0

    def _absorb(self, event: Mapping[str, Any]) -> str:
        """Takes model/usage/finish from one chunk and returns its content text (may be empty)."""
        if event.get("model"):
            self.model = event["model"]
        if event.get("id"):
            self.response_id = event["id"]
        usage = event.get("usage")
        if usage:
            self.input_tokens = usage.get("prompt_tokens")
            self.output_tokens = usage.get("completion_tokens")
        choices = event.get("choices")
        if not choices:
            return ""
        choice = choices[0]
        finish_reason = choice.get("finish_reason")
        if finish_reason:
            self.finish_reason = finish_reason
            if finish_reason == "content_filter":
                raise ContentFiltered("completion", filtered_categories(choice.get("content_filter_results")))
        text = (choice.get("delta") or {}).get("content")
        if text:
            self.content_chunks += 1
        return text or ""

    async def _next_event(self) -> Mapping[str, Any] | None:
        """The next SSE chunk, None after `[DONE]` or at the end of the body (parsed here rather than by
        the SDK's stream class: building a pydantic model per token costs ~3x the CPU per stream)."""
        assert self._lines is not None
        async for line in self._lines:
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                return None
            event = json.loads(data)
            if not isinstance(event, dict):
                raise ValueError("stream chunk is not a JSON object")
            if event.get("error"):
                raise _StreamErrorEvent(str(event["error"])[:200])
            return event
        return None

    async def start(self, messages: list[dict[str, str]]) -> None:
        limits, health = self.limits, self.health
        config = health.config
        self.estimated_input = estimate_message_tokens(messages)
        timeout_s = limits.attempt_timeout(self.deadline)
        body = _stream_body(config.deployment, messages, self.max_tokens, self.temperature, self.seed)
        start_call(health)
        started = limits.clock()
        try:
            async with asyncio.timeout(timeout_s):
                # The SDK's request for custom calls (its README, "Undocumented endpoints"): the same Azure
                # client, auth, URL, api-version and error mapping as `chat.completions.create`, without
                # that method's walk over its typed parameters (a fifth of the SDK's time per call) and
                # without a response wrapper. The body is the documented chat-completions request.
                response = self._response = await self.client.post(
                    "/chat/completions",
                    cast_to=httpx2.Response,
                    body=body,
                    options={"headers": trace_headers(self.span), "timeout": timeout_s},
                    stream=True,
                )
                observe_quota_headers(health, response.headers)
                self._lines = response.aiter_lines()
                while not self.first_text and self.finish_reason is None:
                    event = await self._next_event()
                    if event is None:
                        raise FailOver("stream_broken", f"{health.name}: stream ended before any token")
                    self.first_text = self._absorb(event)
        except ContentFiltered:
            await self._close_upstream()
            end_call(health)
            health.breaker.record_success()
            book_outcome(health, "content_filtered")
            end_failure(self.span, "content_filtered")
            raise
        except FailOver as error:
            await self._close_upstream()
            end_call(health)
            book_failure(health, error.outcome)
            end_failure(self.span, error.outcome)
            raise
        except BaseException as error:
            await self._close_upstream()
            end_call(health)
            raise classify_failure(limits, health, error, self.span, self.deadline) from None
        self.ttft_s = limits.clock() - started
        if self.first_text:
            health.observe_ttft(self.ttft_s)
            metrics.UPSTREAM_TTFT.labels(health.name).observe(self.ttft_s)
            record_first_chunk(self.span, self.ttft_s)

    async def _close_upstream(self) -> None:
        if self._response is not None:
            response, self._response = self._response, None
            # Closing a broken connection may fail again; there is nothing left to save.
            with contextlib.suppress(Exception):
                await response.aclose()

    async def rest(self) -> AsyncGenerator[StreamDelta | StreamEnd, None]:
        limits, health = self.limits, self.health
        outcome = "cancelled"
        error: BaseException | None = None
        try:
            if self.first_text:
                yield StreamDelta(self.first_text)
            while True:
                try:
                    event = await self._next_event()
                except Exception as broken:
                    outcome, error = "stream_broken", broken
                    raise UpstreamStreamBroken(f"{health.name}: stream broke after it started") from broken
                if event is None:
                    break
                text = self._absorb(event)
                if text:
                    yield StreamDelta(text)
                if limits.clock() > self.deadline:
                    outcome = "timeout"
                    raise DeadlineExceeded(f"deadline of {limits.deadline_s:g}s passed during the stream")
            if self.finish_reason is None:
                outcome = "stream_broken"
                raise UpstreamStreamBroken(f"{health.name}: stream ended without a finish reason")
            outcome = "success"
        except ContentFiltered:
            outcome = "content_filtered"
            raise
        finally:
            await self._close_upstream()
            end_call(health)
            self._finish(outcome, error)
        yield StreamEnd(
            finish_reason=self.finish_reason,
            input_tokens=self.input_tokens if self.input_tokens is not None else self.estimated_input,
            output_tokens=self.output_tokens if self.output_tokens is not None else self.content_chunks,
            deployment=health.name,
            model=self.model,
            ttft_s=self.ttft_s,
        )

    def _finish(self, outcome: str, error: BaseException | None) -> None:
        health = self.health
        if outcome == "success":
            book_success(health)
            end_success(
                self.span,
                model=self.model,
                response_id=self.response_id,
                finish_reason=self.finish_reason or "stop",
                input_tokens=self.input_tokens if self.input_tokens is not None else self.estimated_input,
                output_tokens=self.output_tokens if self.output_tokens is not None else self.content_chunks,
            )
        elif outcome == "content_filtered":
            health.breaker.record_success()
            book_outcome(health, outcome)
            end_failure(self.span, outcome)
        elif outcome == "stream_broken":
            book_failure(health, outcome)
            end_failure(self.span, outcome, error)
        else:
            health.breaker.release_probe()
            book_outcome(health, outcome)
            end_failure(self.span, outcome, error)
