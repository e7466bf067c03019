"""Starting and finishing a chat turn, shared by the chat-protocol and OpenAI-compatible routes.

A turn is "started" once the first answer token is in hand: until then every failure is still a proper
problem response (429/503 with Retry-After, 400 content filter), because nothing was sent yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse
from opentelemetry import trace
from starlette.types import Receive, Scope, Send

from chatfleet.chat.chain.failures import problem_for
from chatfleet.chat.chain.turn import AnswerEnd, PreparedTurn, TurnOverrides
from chatfleet.chat.feedback import RatedTurn, new_turn_id
from chatfleet.chat.history import Owner, TurnRecord, new_session_id, session_id_of
from chatfleet.chat.llm import LLMError
from chatfleet.chat.problems import CONTENT_FILTERED, INTERNAL, ProblemError
from chatfleet.chat.quality import AnswerSample
from chatfleet.chat.retrieval import Principal
from chatfleet.chat.runtime import Runtime
from chatfleet.chat.telemetry.tracing import extract_context

CONTENT_FILTER_STOP = "The content filter stopped the answer."

log = logging.getLogger("chatfleet.chat.turns")
tracer = trace.get_tracer("chatfleet.chat.api")


@dataclass
class StartedTurn:
    runtime: Runtime
    principal: Principal
    route: str
    prepared: PreparedTurn
    first: str | AnswerEnd
    rest: AsyncGenerator[str | AnswerEnd, None]
    span: trace.Span
    started_at: float
    opening: bytes = b""
    parts: list[str] = field(default_factory=list)
    finished: bool = False
    session_id: str | None = None
    turn_id: str = field(default_factory=new_turn_id)

    def server_timing(self) -> str:
        """`Server-Timing` of the steps before the first token (what the latency benchmark subtracts)."""
        return ", ".join(f"{name};dur={ms:.3f}" for name, ms in self.prepared.timings_ms.items())

    async def events(self) -> AsyncIterator[str | AnswerEnd]:
        """The first event and the rest, in order; closes the upstream stream however the consumer stops."""
        try:
            yield self.first
            async for event in self.rest:
                yield event
        finally:
            await self.rest.aclose()

    async def collect(self) -> AnswerEnd:
        """The whole answer for the non-streaming routes; failures become problem responses."""
        end: AnswerEnd | None = None
        try:
            async for event in self.events():
                if isinstance(event, AnswerEnd):
                    end = event
                else:
                    self.parts.append(event)
        except LLMError as exc:
            self.finish(None, exc)
            raise problem_for(exc) from exc
        except BaseException as exc:
            self.finish(None, exc)
            raise
        self.finish(end)
        assert end is not None
        if end.finish_reason == "content_filter":
            raise ProblemError(CONTENT_FILTERED, CONTENT_FILTER_STOP)
        return end

    def finish(self, end: AnswerEnd | None, error: BaseException | None = None) -> None:
        """Metrics, span and (opt-in) content log of the turn; idempotent."""
        if self.finished:
            return
        self.finished = True
        metrics = self.runtime.metrics
        metrics.inflight_streams.dec()
        tenant = metrics.tenant_label(self.principal.tenant)
        outcome = "ok" if error is None and end is not None else "error"
        metrics.tenant_turns_total.labels(tenant, outcome).inc()
        if end is not None:
            metrics.output_tokens_total.labels(tenant).inc(end.output_tokens)
            metrics.input_tokens_total.labels(tenant).inc(end.input_tokens)
            if end.dropped:
                metrics.citations_dropped_total.inc(len(end.dropped))
            if error is None and end.finish_reason != "content_filter":
                self._record(end)
                self._sample(end)
        if error is not None:
            metrics.turn_problems_total.labels(tenant, _problem_slug(error)).inc()
            self.span.record_exception(error)
            self.span.set_status(trace.StatusCode.ERROR, type(error).__name__)
        self.span.end()
        if self.prepared.options.log_content:
            log.info(
                "turn tenant=%s question=%r answer=%r",
                self.principal.tenant,
                self.prepared.question,
                "".join(self.parts),
            )
        log.info(
            "turn tenant=%s route=%s outcome=%s sources=%d duration_ms=%.1f",
            self.principal.tenant,
            self.route,
            outcome,
            len(self.prepared.citations),
            (time.perf_counter() - self.started_at) * 1000,
        )


    def _record(self, end: AnswerEnd) -> None:
        """Hands the finished turn to the history writer (a queue put: nothing is written here); without
        history, remembers it among the recent turns feedback can name."""
        history = self.runtime.history
        cited = set(end.cited)
        sources = [c.model_dump() for c in self.prepared.citations if c.id in cited]
        if history is None or self.session_id is None or self.principal.oid is None:
            self.runtime.recent_turns.add(
                RatedTurn(
                    turn_id=self.turn_id,
                    tenant=self.principal.tenant,
                    user=self.principal.oid,
                    prompt_versions=self.runtime.prompts.versions(),
                    deployment=end.deployment,
                    sources=[{"id": s["id"], "source": s["source"]} for s in sources],
                    question=self.prepared.question if self.prepared.options.log_content else None,
                    session_id=self.session_id,
                )
            )
            return
        timings = dict(self.prepared.timings_ms)
        if end.ttft_s is not None:
            timings["model_ttft"] = round(end.ttft_s * 1000, 3)
        timings["total"] = round((time.perf_counter() - self.started_at) * 1000, 3)
        record = TurnRecord(
            session_id=self.session_id,
            question=self.prepared.question,
            answer="".join(self.parts),
            sources=sources,
            prompt_versions=self.runtime.prompts.versions(),
            deployment=end.deployment,
            model=end.model,
            timings_ms=timings,
            created_at=time.time(),
            turn_id=self.turn_id,
        )
        history.submit(Owner(self.principal.tenant, self.principal.oid), record)


    def _sample(self, end: AnswerEnd) -> None:
        """Offers the answer to the groundedness sampler (a draw and a queue put: no scoring here)."""
        quality = self.runtime.quality
        if quality is None:
            return
        quality.offer(
            AnswerSample(
                answer="".join(self.parts),
                sources=self.prepared.citations,
                prompt_version=self.runtime.prompts.versions().get("answer", "unknown"),
                deployment=end.deployment or "unknown",
            )
        )


def session_for(runtime: Runtime, principal: Principal, session_state: Any) -> str | None:
    """The history session of a turn: the id the client sent back in `session_state`, a new one when it
    sent none; None (nothing recorded, `session_state` echoed as is) without history, without a user id, or
    when the client keeps its own state there."""
    if runtime.history is None or principal.oid is None:
        return None
    if session_state is None:
        return new_session_id()
    return session_id_of(session_state)


class TurnStream(StreamingResponse):
    """A streaming response that always settles its turn, even when the client vanished before the body
    generator ever started (then the generator's own `finally` never runs)."""

    def __init__(self, content: AsyncIterator[bytes], turn: StartedTurn, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.turn = turn

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if not self.turn.finished:
                await self.turn.rest.aclose()
                self.turn.finish(None, ConnectionAbortedError("client disconnected before the answer"))


async def start_turn(
    request: Request,
    runtime: Runtime,
    principal: Principal,
    route: str,
    messages: Sequence[tuple[str, str]],
    overrides: TurnOverrides,
    prelude: Callable[[PreparedTurn], bytes] | None = None,
) -> StartedTurn:
    """Resolve the turn's options, prepare it and wait for its first answer token; failures so far raise
    ProblemError. `prelude` renders the stream's opening bytes (kept in `StartedTurn.opening`)."""
    started_at = getattr(request.state, "t0", None) or time.perf_counter()
    span = tracer.start_span(
        f"chat {route}", context=extract_context(request.headers), kind=trace.SpanKind.SERVER
    )
    span.set_attribute("chatfleet.tenant", principal.tenant)
    span.set_attribute("http.route", route)
    chain = runtime.chain
    opening = b""
    try:
        with trace.use_span(span, end_on_exit=False):
            prepared = await chain.prepare(messages, principal, chain.options(overrides))
            rest = chain.stream(prepared, principal)
            runtime.metrics.inflight_streams.inc()
            try:
                if prelude is None:
                    first = await anext(rest)
                else:
                    # The model takes tens of ms to its first token: send the request, then build the
                    # route's first line while it is out, instead of after the token arrived.
                    pending = asyncio.ensure_future(anext(rest))
                    try:
                        await asyncio.sleep(0)
                        seen = prepared.revision
                        opening = prelude(prepared)
                    except BaseException:
                        pending.cancel()  # the generator must be idle before it is closed below
                        with contextlib.suppress(BaseException):
                            await pending
                        raise
                    first = await pending
                    if prepared.revision != seen:  # the screen withheld a source after the line was built
                        opening = prelude(prepared)
            except BaseException:
                runtime.metrics.inflight_streams.dec()
                await rest.aclose()
                raise
    except LLMError as exc:
        problem = problem_for(exc)
        _fail(runtime, principal, span, problem)
        raise problem from exc
    except (ProblemError, Exception) as exc:
        _fail(runtime, principal, span, exc)
        raise
    if isinstance(first, str):
        ttft_s = time.perf_counter() - started_at
        runtime.metrics.observe_ttft(route, principal.tenant, ttft_s)
        span.set_attribute("chatfleet.ttft_ms", round(ttft_s * 1000, 1))  # the workbook's TTFT (App Insights)
    for step, ms in prepared.timings_ms.items():
        span.set_attribute(f"chatfleet.{step}_ms", ms)
    return StartedTurn(runtime, principal, route, prepared, first, rest, span, started_at, opening)


def _fail(runtime: Runtime, principal: Principal, span: trace.Span, exc: BaseException) -> None:
    outcome = "rejected" if isinstance(exc, ProblemError) and exc.problem.status < 500 else "error"
    tenant = runtime.metrics.tenant_label(principal.tenant)
    runtime.metrics.tenant_turns_total.labels(tenant, outcome).inc()
    runtime.metrics.turn_problems_total.labels(tenant, _problem_slug(exc)).inc()
    span.record_exception(exc)
    span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
    span.end()


def _problem_slug(exc: BaseException) -> str:
    """The problem type the client saw (or would have, for a broken stream): a bounded label."""
    if isinstance(exc, ProblemError):
        return exc.problem.slug
    if isinstance(exc, LLMError):
        return problem_for(exc).problem.slug
    return INTERNAL.slug
