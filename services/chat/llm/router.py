"""The LLM router: sends each chat call to the best available Azure OpenAI deployment and fails over.

Rules (docs/llm-router.md explains why):
- selection: lowest priority number first, weighted random inside a tier, weights scaled by live signals;
- 429 -> the deployment cools down for the announced `retry-after-ms`/`retry-after` (capped), try another;
- 5xx, 404, timeouts, connection errors -> circuit breaker failure, try another;
- content filter -> ContentFiltered, never retried elsewhere; other 400/401/403/413/422 -> UpstreamRejected;
- a stream fails over only until its first token has been handed to the caller;
- every attempt and any wait lives inside one whole-request deadline and a bounded attempt count.
"""

import asyncio
import contextlib
import json
import math
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import httpx2
import openai

from chatfleet.chat.llm import metrics
from chatfleet.chat.llm.breaker import BreakerState
from chatfleet.chat.llm.clients import ClientPool
from chatfleet.chat.llm.config import DeploymentConfig, check_pool
from chatfleet.chat.llm.errors import (
    ContentFiltered,
    DeadlineExceeded,
    NoUpstreamAvailable,
    UpstreamRejected,
    UpstreamStreamBroken,
)
from chatfleet.chat.llm.health import DeploymentHealth
from chatfleet.chat.llm.results import Completion, StreamDelta, StreamEnd
from chatfleet.chat.llm.selection import choose
from chatfleet.chat.llm.tracing import (
    end_failure,
    end_success,
    record_first_chunk,
    start_attempt_span,
    trace_headers,
)
from chatfleet.contracts.tokens import estimate_text_tokens

DEFAULT_RETRY_AFTER_S = 1.0
NOT_RETRIED_STATUSES = frozenset({400, 401, 403, 413, 422})
DEADLINE_SLACK_S = 0.005


class _StreamErrorEvent(Exception):
    """The upstream reported an error inside an already started stream."""


class _FailOver(Exception):
    """This attempt failed in a way another deployment (or a later retry) may not; carries the outcome."""

    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """`retry-after-ms` (Azure, precise) wins over `retry-after` (whole seconds); HTTP dates are ignored."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _filtered_categories(results: object) -> list[str]:
    """Names of the categories Azure marked `filtered` (or `detected` for jailbreak/protected material)."""
    if not isinstance(results, Mapping):
        return []
    return sorted(
        name
        for name, verdict in results.items()
        if isinstance(verdict, Mapping) and (verdict.get("filtered") or verdict.get("detected"))
    )


def _untransformed(messages: list[dict[str, str]]) -> dict[str, Any]:
    """The messages go in `extra_body` (with `messages=[]` as the typed argument) because the SDK walks typed
    params recursively to transform them, a no-op for plain text messages that measured a quarter of the
    client CPU of a streamed call (bench/router_bench.py); `extra_body` is sent as given."""
    return {"messages": messages}


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


def estimate_tokens(messages: list[dict[str, str]], max_tokens: int) -> int:
    """What Azure will charge against TPM at admission: the prompt (roughly) plus max_tokens."""
    return estimate_text_tokens(*(str(message.get("content") or "") for message in messages)) + max_tokens


class LLMRouter:
    """Routes chat calls over a pool of Azure OpenAI deployments (see the module docstring for the rules)."""

    def __init__(
        self,
        deployments: list[DeploymentConfig],
        *,
        credential: Any = None,
        request_timeout_s: float = 30,
        deadline_s: float = 60,
        breaker_failure_threshold: int = 3,
        breaker_reset_s: float = 15,
        max_cooldown_s: float = 60,
        default_cooldown_s: float = 5,
        max_attempts: int | None = None,
        retry_backoff_s: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        check_pool(deployments)
        if request_timeout_s <= 0 or deadline_s <= 0:
            raise ValueError("request_timeout_s and deadline_s must be > 0")
        self.request_timeout_s = request_timeout_s
        self.deadline_s = deadline_s
        self.max_cooldown_s = max_cooldown_s
        self.default_cooldown_s = default_cooldown_s
        self.max_attempts = max_attempts or max(3, len(deployments) + 1)
        self.retry_backoff_s = retry_backoff_s
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - load spreading, not security
        self._pool = [
            DeploymentHealth(
                config,
                clock,
                breaker_failure_threshold=breaker_failure_threshold,
                breaker_reset_s=breaker_reset_s,
            )
            for config in deployments
        ]
        self._clients = ClientPool(credential)
        self._closed = False
        for health in self._pool:
            self._clients.client_for(health.config, request_timeout_s)  # now: no request waits for set-up
            metrics.UPSTREAM_BREAKER_STATE.labels(health.name).set(BreakerState.CLOSED)
            metrics.UPSTREAM_INFLIGHT.labels(health.name).set(0)

    # ---- public surface -------------------------------------------------------------------------------

    def ready(self) -> bool:
        """Ready while open for calls and at least one deployment's breaker is not open."""
        return not self._closed and any(h.breaker.state is not BreakerState.OPEN for h in self._pool)

    def snapshot(self) -> list[dict[str, Any]]:
        for health in self._pool:
            metrics.UPSTREAM_BREAKER_STATE.labels(health.name).set(health.breaker.state)
        return [health.snapshot() for health in self._pool]

    async def aclose(self) -> None:
        self._closed = True
        await self._clients.aclose()

    async def complete(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int = 512,
        temperature: float | None = None,
        seed: int | None = None,
        operation: str = "chat",
    ) -> Completion:
        deadline = self._clock() + self.deadline_s
        estimate = estimate_tokens(messages, max_tokens)
        tried: set[str] = set()
        failures: list[str] = []
        while True:
            health = await self._next_deployment(deadline, tried, failures, estimate)
            tried.add(health.name)
            try:
                return await self._complete_once(
                    health, messages, deadline, len(failures) + 1, max_tokens, temperature, seed, operation
                )
            except _FailOver as failure:
                failures.append(str(failure))

    async def stream(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int = 512,
        temperature: float | None = None,
        seed: int | None = None,
        operation: str = "chat",
    ) -> AsyncIterator[StreamDelta | StreamEnd]:
        """Yields StreamDelta items then one StreamEnd; fails over only before the first delta."""
        deadline = self._clock() + self.deadline_s
        estimate = estimate_tokens(messages, max_tokens)
        tried: set[str] = set()
        failures: list[str] = []
        while True:
            health = await self._next_deployment(deadline, tried, failures, estimate)
            tried.add(health.name)
            attempt = len(failures) + 1
            call = _StreamCall(self, health, deadline, attempt, operation, max_tokens, temperature, seed)
            try:
                await call.start(messages)
            except _FailOver as failure:
                failures.append(str(failure))
                continue
            async with contextlib.aclosing(call.rest()) as items:
                async for item in items:
                    yield item
            return

    # ---- attempts -------------------------------------------------------------------------------------

    async def _next_deployment(
        self, deadline: float, tried: set[str], failures: list[str], estimate: int
    ) -> DeploymentHealth:
        """Next deployment to try: an untried one, else (after a short backoff) a tried one that is still
        healthy; raises when the attempt budget, the deadline or the pool is exhausted. The messages name
        the last failures, so a log line says why a request found no upstream."""
        attempt = len(failures)
        history = f" ({'; '.join(failures[-3:])})" if failures else ""
        if self._closed:
            raise NoUpstreamAvailable("the LLM router is shut down", DEFAULT_RETRY_AFTER_S)
        if self._clock() >= deadline:
            raise DeadlineExceeded(
                f"deadline of {self.deadline_s:g}s passed after {attempt} attempt(s){history}"
            )
        if attempt >= self.max_attempts:
            raise NoUpstreamAvailable(f"all {attempt} attempts failed{history}", self._retry_after())
        health = choose(self._pool, exclude=tried, estimated_tokens=estimate, rng=self._rng)
        if health is None:
            health = choose(self._pool, estimated_tokens=estimate, rng=self._rng)
            if health is None:
                raise NoUpstreamAvailable(
                    f"every deployment is cooling down after 429 or has an open circuit{history}",
                    self._retry_after(),
                )
            backoff = self.retry_backoff_s * (2 ** max(0, attempt - len(self._pool)))
            if self._clock() + backoff >= deadline:
                raise DeadlineExceeded(
                    f"deadline of {self.deadline_s:g}s leaves no time for a retry{history}"
                )
            await asyncio.sleep(backoff * (0.5 + self._rng.random()))
            if not health.available():
                return await self._next_deployment(deadline, tried, failures, estimate)
        return health

    def _retry_after(self) -> float:
        """When a caller should come back: the earliest end of a cooldown or breaker timeout."""
        if any(h.available() for h in self._pool):
            return DEFAULT_RETRY_AFTER_S
        waits = [h.seconds_until_available() for h in self._pool]
        return max(0.1, min(waits))

    def _attempt_timeout(self, deadline: float) -> float:
        """The per-request timeout, shortened to what is left of the whole-request deadline."""
        return min(self.request_timeout_s, deadline - self._clock())

    def _begin(self, health: DeploymentHealth) -> None:
        health.breaker.on_send()
        health.inflight += 1
        metrics.UPSTREAM_INFLIGHT.labels(health.name).inc()
        metrics.UPSTREAM_BREAKER_STATE.labels(health.name).set(health.breaker.state)

    def _end(self, health: DeploymentHealth) -> None:
        health.inflight -= 1
        metrics.UPSTREAM_INFLIGHT.labels(health.name).dec()

    def _count(self, health: DeploymentHealth, outcome: str) -> None:
        metrics.UPSTREAM_REQUESTS.labels(health.name, outcome).inc()
        metrics.UPSTREAM_BREAKER_STATE.labels(health.name).set(health.breaker.state)

    def _succeeded(self, health: DeploymentHealth) -> None:
        health.successes += 1
        health.breaker.record_success()
        self._count(health, "success")

    def _failed(self, health: DeploymentHealth, outcome: str) -> None:
        health.failures += 1
        health.breaker.record_failure()
        self._count(health, outcome)

    def _observe_headers(self, health: DeploymentHealth, headers: Mapping[str, str]) -> None:
        health.observe_quota(
            _int_header(headers, "x-ratelimit-remaining-tokens"),
            _int_header(headers, "x-ratelimit-remaining-requests"),
        )

    def _handle_error(
        self, health: DeploymentHealth, error: BaseException, span: Any, deadline: float
    ) -> BaseException:
        """Books the failure (cooldown, breaker, metrics, span) and returns what to raise."""
        if isinstance(error, asyncio.CancelledError):
            health.breaker.release_probe()
            self._count(health, "cancelled")
            end_failure(span, "cancelled")
            return error
        if isinstance(error, TimeoutError | openai.APITimeoutError):
            if self._clock() >= deadline - DEADLINE_SLACK_S:
                # The caller's deadline ran out, not the upstream's time: no breaker failure.
                health.breaker.release_probe()
                self._count(health, "timeout")
                end_failure(span, "deadline", error)
                return DeadlineExceeded(
                    f"deadline of {self.deadline_s:g}s passed while {health.name} answered"
                )
            self._failed(health, "timeout")
            end_failure(span, "timeout", error)
            return _FailOver("timeout", f"{health.name}: timed out")
        if isinstance(error, openai.APIConnectionError):
            self._failed(health, "connection_error")
            end_failure(span, "connection_error", error)
            return _FailOver("connection_error", f"{health.name}: connection failed")
        if isinstance(error, openai.APIStatusError):
            return self._handle_status(health, error, span)
        self._failed(health, "error")
        end_failure(span, "error", error)
        return _FailOver("error", f"{health.name}: {type(error).__name__}")

    def _handle_status(
        self, health: DeploymentHealth, error: openai.APIStatusError, span: Any
    ) -> BaseException:
        status = error.status_code
        headers = error.response.headers
        self._observe_headers(health, headers)
        span.set_attribute("http.response.status_code", status)
        if status == 429:
            announced = retry_after_seconds(headers)
            cooldown = min(self.max_cooldown_s, self.default_cooldown_s if announced is None else announced)
            health.start_cooldown(cooldown)
            health.breaker.release_probe()
            metrics.UPSTREAM_COOLDOWNS.labels(health.name).inc()
            self._count(health, "throttled")
            end_failure(span, "throttled")
            return _FailOver("throttled", f"{health.name}: throttled for {cooldown:.3f}s")
        body = error.body if isinstance(error.body, Mapping) else {}
        if status == 400 and body.get("code") == "content_filter":
            inner = body.get("innererror")
            categories = _filtered_categories(
                inner.get("content_filter_result") if isinstance(inner, Mapping) else None
            )
            health.breaker.record_success()
            self._count(health, "content_filtered")
            end_failure(span, "content_filtered")
            return ContentFiltered("prompt", categories)
        if status in NOT_RETRIED_STATUSES:
            health.breaker.release_probe()
            self._count(health, "rejected")
            end_failure(span, "rejected", error)
            message = body.get("message") if isinstance(body.get("message"), str) else error.message
            return UpstreamRejected(f"{health.name} rejected the request ({status}): {message}", status)
        self._failed(health, "error")
        end_failure(span, "error", error)
        return _FailOver("error", f"{health.name}: HTTP {status}")

    async def _complete_once(
        self,
        health: DeploymentHealth,
        messages: list[dict[str, str]],
        deadline: float,
        attempt: int,
        max_tokens: int,
        temperature: float | None,
        seed: int | None,
        operation: str,
    ) -> Completion:
        config = health.config
        client = self._clients.client_for(config, self.request_timeout_s)
        timeout_s = self._attempt_timeout(deadline)
        span = start_attempt_span(
            config,
            purpose=operation,
            attempt=attempt,
            max_tokens=max_tokens,
            temperature=temperature,
            seed=seed,
            streaming=False,
        )
        self._begin(health)
        started = self._clock()
        try:
            async with asyncio.timeout(timeout_s):
                raw = await client.chat.completions.with_raw_response.create(
                    model=config.deployment,
                    messages=[],
                    extra_body=_untransformed(messages),
                    max_tokens=max_tokens,
                    temperature=temperature if temperature is not None else openai.omit,
                    seed=seed if seed is not None else openai.omit,
                    timeout=timeout_s,
                    extra_headers=trace_headers(span),
                )
            self._observe_headers(health, raw.headers)
            response = raw.parse()
        except BaseException as error:
            raise self._handle_error(health, error, span, deadline) from None
        finally:
            self._end(health)
        elapsed = self._clock() - started
        if not response.choices:
            self._failed(health, "error")
            end_failure(span, "empty_response")
            raise _FailOver("error", f"{health.name}: response without choices")
        choice = response.choices[0]
        finish_reason = choice.finish_reason or "stop"
        if finish_reason == "content_filter":
            health.breaker.record_success()
            self._count(health, "content_filtered")
            end_failure(span, "content_filtered")
            raise ContentFiltered(
                "completion", _filtered_categories((choice.model_extra or {}).get("content_filter_results"))
            )
        usage = response.usage
        input_tokens = usage.prompt_tokens if usage else estimate_tokens(messages, 0)
        output_tokens = usage.completion_tokens if usage else 0
        self._succeeded(health)
        end_success(
            span,
            model=response.model,
            response_id=response.id,
            finish_reason=finish_reason,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )
        return Completion(
            text=choice.message.content or "",
            finish_reason=finish_reason,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            deployment=health.name,
            model=response.model,
            ttft_s=elapsed,
        )


class _StreamCall:
    """One streaming attempt: `start()` reads up to the first token (failing over is still possible),
    `rest()` hands out the tokens and ends with StreamEnd or UpstreamStreamBroken."""

    def __init__(
        self,
        router: LLMRouter,
        health: DeploymentHealth,
        deadline: float,
        attempt: int,
        operation: str,
        max_tokens: int,
        temperature: float | None,
        seed: int | None,
    ) -> None:
        self.router = router
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
                raise ContentFiltered(
                    "completion", _filtered_categories(choice.get("content_filter_results"))
                )
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
        router, health = self.router, self.health
        config = health.config
        self.estimated_input = estimate_tokens(messages, 0)
        client = router._clients.client_for(config, router.request_timeout_s)
        timeout_s = router._attempt_timeout(self.deadline)
        body = _stream_body(config.deployment, messages, self.max_tokens, self.temperature, self.seed)
        router._begin(health)
        started = router._clock()
        try:
            async with asyncio.timeout(timeout_s):
                # The SDK's request for custom calls (its README, "Undocumented endpoints"): the same Azure
                # client, auth, URL, api-version and error mapping as `chat.completions.create`, without
                # that method's walk over its typed parameters (a fifth of the SDK's time per call) and
                # without a response wrapper. The body is the documented chat-completions request.
                response = self._response = await client.post(
                    "/chat/completions",
                    cast_to=httpx2.Response,
                    body=body,
                    options={"headers": trace_headers(self.span), "timeout": timeout_s},
                    stream=True,
                )
                router._observe_headers(health, response.headers)
                self._lines = response.aiter_lines()
                while not self.first_text and self.finish_reason is None:
                    event = await self._next_event()
                    if event is None:
                        raise _FailOver("stream_broken", f"{health.name}: stream ended before any token")
                    self.first_text = self._absorb(event)
        except ContentFiltered:
            await self._close_upstream()
            router._end(health)
            health.breaker.record_success()
            router._count(health, "content_filtered")
            end_failure(self.span, "content_filtered")
            raise
        except _FailOver as error:
            await self._close_upstream()
            router._end(health)
            router._failed(health, error.outcome)
            end_failure(self.span, error.outcome)
            raise
        except BaseException as error:
            await self._close_upstream()
            router._end(health)
            raise router._handle_error(health, error, self.span, self.deadline) from None
        self.ttft_s = router._clock() - started
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

    async def rest(self) -> AsyncIterator[StreamDelta | StreamEnd]:
        router, health = self.router, self.health
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
                if router._clock() > self.deadline:
                    outcome = "timeout"
                    raise DeadlineExceeded(f"deadline of {router.deadline_s:g}s passed during the stream")
            if self.finish_reason is None:
                outcome = "stream_broken"
                raise UpstreamStreamBroken(f"{health.name}: stream ended without a finish reason")
            outcome = "success"
        except ContentFiltered:
            outcome = "content_filtered"
            raise
        finally:
            await self._close_upstream()
            router._end(health)
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
        router, health = self.router, self.health
        if outcome == "success":
            router._succeeded(health)
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
            router._count(health, outcome)
            end_failure(self.span, outcome)
        elif outcome == "stream_broken":
            router._failed(health, outcome)
            end_failure(self.span, outcome, error)
        else:
            health.breaker.release_probe()
            router._count(health, outcome)
            end_failure(self.span, outcome, error)
