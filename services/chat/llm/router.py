"""The LLM router: sends each chat call to the best available Azure OpenAI deployment and fails over.

Rules (docs/llm-router.md explains why):
- selection: lowest priority number first, weighted random inside a tier, weights scaled by live signals
  (`selection.py`);
- failures: 429 cools the deployment down, 5xx/timeouts/connection errors count against its breaker, the
  content filter and request rejections end the call (`failures.py`);
- a stream fails over only until its first token has been handed to the caller (`streaming.py`);
- every attempt and any wait lives inside one whole-request deadline and a bounded attempt count (here).
"""

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

from chatfleet.chat.llm import metrics
from chatfleet.chat.llm.breaker import BreakerState
from chatfleet.chat.llm.clients import ClientPool
from chatfleet.chat.llm.completion import complete_once
from chatfleet.chat.llm.config import DeploymentConfig, check_pool
from chatfleet.chat.llm.errors import DeadlineExceeded, NoUpstreamAvailable
from chatfleet.chat.llm.failures import FailOver
from chatfleet.chat.llm.health import DeploymentHealth
from chatfleet.chat.llm.limits import AttemptLimits
from chatfleet.chat.llm.results import Completion, StreamDelta, StreamEnd
from chatfleet.chat.llm.selection import choose
from chatfleet.chat.llm.streaming import StreamAttempt
from chatfleet.contracts.tokens import estimate_message_tokens

DEFAULT_RETRY_AFTER_S = 1.0


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
        self._limits = AttemptLimits(
            clock=clock,
            request_timeout_s=request_timeout_s,
            deadline_s=deadline_s,
            max_cooldown_s=max_cooldown_s,
            default_cooldown_s=default_cooldown_s,
        )
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

    @property
    def request_timeout_s(self) -> float:
        return self._limits.request_timeout_s

    @property
    def deadline_s(self) -> float:
        return self._limits.deadline_s

    @property
    def max_cooldown_s(self) -> float:
        return self._limits.max_cooldown_s

    @property
    def default_cooldown_s(self) -> float:
        return self._limits.default_cooldown_s

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
        estimate = estimate_message_tokens(messages, max_tokens)
        tried: set[str] = set()
        failures: list[str] = []
        while True:
            health = await self._next_deployment(deadline, tried, failures, estimate)
            tried.add(health.name)
            client = self._clients.client_for(health.config, self._limits.request_timeout_s)
            try:
                return await complete_once(
                    client,
                    self._limits,
                    health,
                    messages,
                    deadline,
                    len(failures) + 1,
                    max_tokens,
                    temperature,
                    seed,
                    operation,
                )
            except FailOver as failure:
                failures.append(str(failure))

    async def stream(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int = 512,
        temperature: float | None = None,
        seed: int | None = None,
        operation: str = "chat",
    ) -> AsyncGenerator[StreamDelta | StreamEnd, None]:
        """Yields StreamDelta items then one StreamEnd; fails over only before the first delta."""
        deadline = self._clock() + self.deadline_s
        estimate = estimate_message_tokens(messages, max_tokens)
        tried: set[str] = set()
        failures: list[str] = []
        while True:
            health = await self._next_deployment(deadline, tried, failures, estimate)
            tried.add(health.name)
            attempt = len(failures) + 1
            client = self._clients.client_for(health.config, self._limits.request_timeout_s)
            call = StreamAttempt(
                client, self._limits, health, deadline, attempt, operation, max_tokens, temperature, seed
            )
            try:
                await call.start(messages)
            except FailOver as failure:
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
