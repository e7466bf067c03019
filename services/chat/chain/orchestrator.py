"""The chat turn as a chain: guard -> rewrite -> retrieve -> grounded answer -> citation check.

`prepare` answers a standalone question from the semantic cache when it may (`chat.semcache`), else rewrites
and retrieves (and may fail with a clean problem response); `stream` sends the prompt,
screens what `prepare` left unscreened while the model works, and yields checked answer text. Until the first
text is out every failure, a refusal included, is still a clean problem response: that is what lets the stream
routes render their first line (data points + thoughts) while the model works, and fail over without the
client noticing.

This module is the sequencing only: the turn's types are in `chain.turn`, composing the prompt from the kept
sources in `chain.compose`, the span attributes in `chain.tracing`, failures' wording in `chain.failures`,
what is kept in and served from the semantic cache in `chain.cached`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Sequence
from typing import Any, Protocol

from opentelemetry import trace

from chatfleet.chat.chain.cached import remember, replay, reusable, served_turn
from chatfleet.chat.chain.citations import CitationFilter
from chatfleet.chat.chain.compose import compose, no_sources_answer, one_line
from chatfleet.chat.chain.failures import problem_for
from chatfleet.chat.chain.guarding import TurnGuards
from chatfleet.chat.chain.markup import LinkPolicy, MarkupFilter
from chatfleet.chat.chain.tracing import gen_ai_attributes
from chatfleet.chat.chain.turn import AnswerEnd, PreparedTurn, TurnOptions, TurnOverrides, Unscreened
from chatfleet.chat.config import Settings
from chatfleet.chat.llm import ContentFiltered, LLMRouter, StreamDelta, StreamEnd
from chatfleet.chat.problems import INPUT_REJECTED, ProblemError
from chatfleet.chat.prompts.library import PromptLibrary
from chatfleet.chat.protocol import Thought
from chatfleet.chat.retrieval import Hit, Principal, Retriever
from chatfleet.chat.semcache import CacheSlot, SemanticCache, standalone
from chatfleet.chat.telemetry.metrics import ServiceMetrics
from chatfleet.contracts.tokens import estimate_message_tokens, estimate_text_tokens

tracer = trace.get_tracer("chatfleet.chat.chain")
log = logging.getLogger("chatfleet.chat.chain")

REWRITE_MAX_TOKENS = 64
UNCITED_NOTE = (
    "\n\n(Note: this answer cites none of your organization's sources, so it may not be grounded in them.)"
)
UNCITED_ACTIONS = {"flag": "flagged", "annotate": "annotated", "replace": "replaced"}


class Clock(Protocol):
    def __call__(self) -> float: ...


class ChatChain:
    """One instance per process; holds the router, retriever, prompt library and guards."""

    def __init__(
        self,
        *,
        settings: Settings,
        router: LLMRouter,
        retriever: Retriever,
        prompts: PromptLibrary,
        guards: TurnGuards,
        metrics: ServiceMetrics,
        cache: SemanticCache | None = None,
        clock: Clock = time.perf_counter,
    ) -> None:
        self.settings = settings
        self.router = router
        self.retriever = retriever
        self.prompts = prompts
        self.guards = guards
        self.metrics = metrics
        self.cache = cache
        self.clock = clock

    def options(self, overrides: TurnOverrides) -> TurnOptions:
        """The one place a request's overrides meet the settings: defaults filled in, caps applied."""
        s = self.settings
        return TurnOptions(
            top=s.default_top if overrides.top is None else overrides.top,
            retrieval_mode=overrides.retrieval_mode or s.default_retrieval_mode,
            semantic_ranker=s.default_semantic_ranker
            if overrides.semantic_ranker is None
            else overrides.semantic_ranker,
            minimum_search_score=s.default_minimum_search_score
            if overrides.minimum_search_score is None
            else overrides.minimum_search_score,
            minimum_relevance=s.minimum_relevance,
            temperature=s.default_temperature if overrides.temperature is None else overrides.temperature,
            seed=overrides.seed,
            max_tokens=min(overrides.max_tokens or s.max_output_tokens, s.max_output_tokens),
            suggest_followup_questions=overrides.suggest_followup_questions,
            query_rewrite=s.query_rewrite,
            guards_overlap=s.guards_overlap,
            log_content=s.log_content,
            link_hosts=frozenset(s.output_link_hosts),
            uncited_answer=s.uncited_answer,
        )

    async def prepare(
        self, messages: Sequence[tuple[str, str]], principal: Principal, options: TurnOptions
    ) -> PreparedTurn:
        """Rewrite and retrieve; raises ProblemError for anything the client must fix or retry.

        With `guards_overlap` (the default) the screens of a single question and of the retrieved sources
        are left to `stream`, which runs them while the model works toward its first token."""
        question = messages[-1][1].strip()
        steps: list[Thought] = []
        timings: dict[str, float] = {}
        slot: CacheSlot | None = None
        if self.cache is not None:
            served, slot = await self._from_cache(self.cache, messages, question, principal, options, timings)
            if served is not None:
                return served
        history = await self._screen_history(messages[:-1], principal, steps, timings)
        estimated_tokens = estimate_text_tokens(*(c for _, c in messages)) + options.max_tokens
        rewrite = options.rewrites(history)
        overlap = options.guards_overlap
        search_query = question
        unscreened_question: str | None = None
        if rewrite:
            # The rewrite sends the question to the model with nothing to hold its output back: screen first.
            await self._screen(question, None, principal, timings)
            await self.guards.reserve_budget(principal, estimated_tokens)
            search_query, thought = await self._rewrite(question, history, options)
            timings["rewrite"] = thought.props["duration_ms"]
            await self.guards.record_usage(principal, thought.props["tokens"], 0)
            steps.append(thought)
            waited = self.clock()
            hits, elapsed = await self._retrieve(search_query, principal, options)
        elif overlap:
            # A shared budget's round trip runs beside the search; a refusal still comes before the model.
            reservation = asyncio.ensure_future(self.guards.reserve_budget(principal, estimated_tokens))
            unscreened_question = question
            waited = self.clock()
            try:
                hits, elapsed = await self._retrieve(question, principal, options)
            except BaseException:
                await asyncio.gather(reservation, return_exceptions=True)
                raise
            await reservation
        else:
            hits, elapsed, waited = await self._retrieve_while_screening(
                question, principal, options, timings
            )
            await self.guards.reserve_budget(principal, estimated_tokens)
        timings["retrieval"] = elapsed * 1000
        # What the search added to the time before the answer starts, beyond a screen it overlapped.
        timings["retrieval_wait"] = (self.clock() - waited) * 1000
        steps.append(
            Thought(
                title="Search using generated search query"
                if search_query != question
                else "Search using the question",
                description=search_query,
                props={
                    "top": options.top,
                    "retrieval_mode": options.retrieval_mode,
                    "semantic_ranker": options.semantic_ranker,
                    "minimum_search_score": options.minimum_search_score,
                    "minimum_relevance": options.minimum_relevance,
                    "hits": len(hits),
                    "tenant": principal.tenant,
                    "duration_ms": round(timings["retrieval"], 2),
                },
            )
        )
        turn = PreparedTurn(
            question,
            search_query,
            [],
            [],
            options,
            timings_ms=timings,
            estimated_tokens=estimated_tokens,
            cache_slot=slot,
        )
        if overlap:
            turn.unscreened = Unscreened(unscreened_question, hits, history, steps)
            compose(turn, self.prompts, history, steps, hits, [])
        else:
            kept, rejected = await self._screen(None, hits, principal, timings)
            compose(turn, self.prompts, history, steps, kept, rejected)
        return turn

    async def _from_cache(
        self,
        cache: SemanticCache,
        messages: Sequence[tuple[str, str]],
        question: str,
        principal: Principal,
        options: TurnOptions,
        timings: dict[str, float],
    ) -> tuple[PreparedTurn | None, CacheSlot | None]:
        """A turn served from the cache (the question screened first: a refusal raises as for a fresh
        turn), or the slot a fresh answer is kept in after a miss. A failing store answers afresh."""
        lookups = self.metrics.semantic_cache_lookups_total
        tenant = self.metrics.tenant_label(principal.tenant)
        if not standalone(messages):
            lookups.labels(tenant, "bypass").inc()
            return None, None
        started = self.clock()
        try:
            slot = await cache.slot(
                question, principal.tenant, self.prompts.versions(), options.answer_shape()
            )
            found = await cache.lookup(slot, principal)
        except Exception:
            log.warning("semantic cache lookup failed; answering afresh", exc_info=True)
            lookups.labels(tenant, "error").inc()
            return None, None
        timings["cache_lookup"] = (self.clock() - started) * 1000
        lookups.labels(tenant, found.outcome).inc()
        if found.hit is None:
            return None, slot if found.outcome == "miss" else None
        await self._screen(question, None, principal, timings)
        return served_turn(found.hit, question, options, timings, cache.threshold), None

    async def _screen_history(
        self,
        earlier: Sequence[tuple[str, str]],
        principal: Principal,
        steps: list[Thought],
        timings: dict[str, float],
    ) -> list[dict[str, str]]:
        """The earlier turns that may reach the prompts: a refused user turn refuses the request (a
        jailbreak must not pass by sitting one turn back), a flagged assistant turn is left out (the client
        wrote it)."""
        if not earlier:
            return []
        started = self.clock()
        verdict = await self.guards.screen_history(earlier, principal)
        timings["history_screen"] = (self.clock() - started) * 1000
        if verdict.refused is not None:
            raise ProblemError(
                INPUT_REJECTED,
                verdict.refused.user_message,
                extensions={"detector": verdict.refused.detector, "turn": "history"},
            )
        if verdict.withheld:
            steps.append(
                Thought(
                    title="Assistant turns withheld by the injection screen", description=verdict.withheld
                )
            )
        return [
            {"role": role, "content": content}
            for i, (role, content) in enumerate(earlier)
            if i not in verdict.withheld
        ]

    async def _screen(
        self, question: str | None, hits: list[Hit] | None, principal: Principal, timings: dict[str, float]
    ) -> tuple[list[Hit], list[Hit]]:
        """Screens what is given in one call (one Prompt Shields round trip for both) and returns the sources
        kept and withheld; raises INPUT_REJECTED for a refused question. `guard` times the call when it
        judged the question, `docscreen` when it judged the sources."""
        started = self.clock()
        verdict, kept, rejected = await self.guards.screen_turn(question, hits or (), principal)
        elapsed = (self.clock() - started) * 1000
        if question is not None:
            timings["guard"] = elapsed
        if hits is not None:
            timings["docscreen"] = elapsed
            if rejected:
                self.metrics.sources_withheld_total.inc(len(rejected))
        if verdict.blocked:
            raise ProblemError(
                INPUT_REJECTED, verdict.user_message, extensions={"detector": verdict.detector}
            )
        return kept, rejected

    async def _retrieve_while_screening(
        self, question: str, principal: Principal, options: TurnOptions, timings: dict[str, float]
    ) -> tuple[list[Hit], float, float]:
        """Search while the question is screened (the search waits on a thread or the network, the screen
        is CPU work on the loop); a refused question cancels the search. Returns the hits, the search's
        duration, and when the wait for it began."""
        search = asyncio.ensure_future(self._retrieve(question, principal, options))
        await asyncio.sleep(0)  # let the search leave before the screen holds the loop
        try:
            await self._screen(question, None, principal, timings)
            waited = self.clock()
            hits, elapsed = await search
        except BaseException:
            if not search.done():
                search.cancel()
                with contextlib.suppress(BaseException):
                    await search
            raise
        return hits, elapsed, waited

    async def _retrieve(
        self, query: str, principal: Principal, options: TurnOptions
    ) -> tuple[list[Hit], float]:
        """The hits for `query` within the caller's tenant, and how long the search took."""
        started = self.clock()
        with tracer.start_as_current_span("chatfleet.retrieve") as span:
            hits = await self.retriever.search(
                query,
                principal,
                top=options.top,
                mode=options.retrieval_mode,
                semantic_ranker=options.semantic_ranker,
                minimum_score=options.minimum_search_score,
            )
            elapsed = self.clock() - started
            if not relevant_enough(hits, options.minimum_relevance):
                span.set_attribute("chatfleet.retrieval.below_minimum_relevance", len(hits))
                hits = []
            span.set_attribute("chatfleet.retrieval.hits", len(hits))
            span.set_attribute("chatfleet.retrieval.mode", options.retrieval_mode)
        self.metrics.retrieval_seconds.observe(elapsed)
        return hits, elapsed

    async def _rewrite(
        self, question: str, history: list[dict[str, str]], options: TurnOptions
    ) -> tuple[str, Thought]:
        prompt = self.prompts.get("query_rewrite")
        rendered = prompt.render_chat(question=question)
        messages = [
            {"role": "system", "content": rendered.system},
            *history,
            {"role": "user", "content": rendered.user},
        ]
        started = self.clock()
        with tracer.start_as_current_span("chatfleet.rewrite") as span:
            span.set_attribute("chatfleet.prompt", prompt.ref)
            try:
                result = await self.router.complete(
                    messages,
                    max_tokens=REWRITE_MAX_TOKENS,
                    temperature=0.0,
                    seed=options.seed,
                    operation="rewrite",
                )
            except ContentFiltered as exc:
                raise problem_for(exc) from exc
            span.set_attributes(gen_ai_attributes("rewrite", result))
        query = one_line(result.text).strip("\"'")
        if not query or query == "0":
            query = question
        duration_ms = round((self.clock() - started) * 1000, 2)
        thought = Thought(
            title="Generated search query",
            description=query,
            props={
                "prompt": prompt.ref,
                "deployment": result.deployment,
                "model": result.model,
                "duration_ms": duration_ms,
                "tokens": result.input_tokens + result.output_tokens,
            },
        )
        return query, thought

    async def stream(self, turn: PreparedTurn, principal: Principal) -> AsyncGenerator[str | AnswerEnd, None]:
        """Checked answer text chunks, then one AnswerEnd. Upstream errors propagate to the route.

        An unscreened turn sends its prompt first and is screened while the model works toward its first
        token (CPU work for the local detector, a round trip for Prompt Shields): nothing of the answer is
        released before the verdict. A refused question raises INPUT_REJECTED and abandons the call; a
        withheld source abandons it too and the answer starts again from a prompt without that source."""
        pending = turn.unscreened
        if pending is None:
            async for event in self._answer(turn, principal):
                yield event
            return
        turn.unscreened = None
        answer: AsyncGenerator[str | AnswerEnd, None] | None = None
        first: asyncio.Future[str | AnswerEnd] | None = None
        if turn.fixed_answer is None:
            answer = self._answer(turn, principal)
            first = asyncio.ensure_future(anext(answer))
            await asyncio.sleep(0)  # the request leaves before the screen holds the loop
        try:
            kept, rejected = await self._screen(pending.question, pending.hits, principal, turn.timings_ms)
        except BaseException:
            spent = 0
            if answer is not None and first is not None:
                spent = await _abandon(first, answer, turn.prompt_messages or [])
            await self.guards.record_usage(principal, spent, turn.estimated_tokens)
            raise
        if rejected:
            if answer is not None and first is not None:
                spent = await _abandon(first, answer, turn.prompt_messages or [])
                await self.guards.record_usage(principal, spent, 0)
            compose(turn, self.prompts, pending.history, pending.steps, kept, rejected)
            answer = first = None
        if answer is None or first is None:
            async for event in self._answer(turn, principal):
                yield event
            return
        try:
            yield await first
            async for event in answer:
                yield event
        finally:
            await answer.aclose()

    async def _answer(
        self, turn: PreparedTurn, principal: Principal
    ) -> AsyncGenerator[str | AnswerEnd, None]:
        """The answer of a screened turn: the no-sources text, or the model's stream through the citation
        check and the markup and link policy (`chain.markup`), with the uncited-answer policy applied at
        its end, then one AnswerEnd."""
        options = turn.options
        if turn.cached is not None:
            self.metrics.semantic_cache_saved_tokens_total.labels(
                self.metrics.tenant_label(principal.tenant)
            ).inc(turn.cached.entry.tokens)
            for replayed in replay(turn.cached):
                yield replayed
            return
        markup = MarkupFilter(LinkPolicy(options.link_hosts))
        if turn.fixed_answer is not None:
            await self.guards.record_usage(principal, 0, turn.estimated_tokens)  # no model call: refund
            yield markup.neutralise(turn.fixed_answer)  # it echoes the question
            yield AnswerEnd(finish_reason="stop", withheld=list(turn.withheld))
            return
        assert turn.prompt_messages is not None
        checker = CitationFilter(frozenset(c.id for c in turn.citations))
        # `replace` holds the answer until its first valid citation: an answer that never cites one is
        # replaced before any of it was sent.
        hold = options.uncited_answer == "replace"
        held: list[str] = []
        sent: list[str] = []  # what the client got: the answer the semantic cache may keep
        # A plain span (not "current"): the generator resumes in other tasks, where attach/detach would fail.
        span = tracer.start_span("chatfleet.answer")
        span.set_attribute("chatfleet.prompt", self.prompts.get("answer").ref)
        end: StreamEnd | None = None
        try:
            upstream = self.router.stream(
                turn.prompt_messages,
                max_tokens=options.max_tokens,
                temperature=options.temperature,
                seed=options.seed,
                operation="chat",
            )
            # Closed here, not by the garbage collector, when this answer is abandoned mid-stream.
            async with contextlib.aclosing(upstream) as events:
                async for event in events:
                    if isinstance(event, StreamDelta):
                        text = markup.feed(checker.feed(event.text))
                        if not text:
                            continue
                        if hold and not checker.cited:
                            held.append(text)
                            continue
                        if held:
                            text, held = "".join(held) + text, []
                        sent.append(text)
                        yield text
                    elif isinstance(event, StreamEnd):
                        end = event
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
            span.end()
            raise
        tail = "".join(held) + markup.feed(checker.flush()) + markup.flush()
        uncited: str | None = None
        if not checker.cited and (end is None or end.finish_reason != "content_filter"):
            uncited = UNCITED_ACTIONS[options.uncited_answer]
            self.metrics.uncited_answers_total.labels(uncited).inc()
            if options.uncited_answer == "replace":
                tail = markup.neutralise(no_sources_answer(self.prompts, turn.question))
            elif options.uncited_answer == "annotate":
                tail += UNCITED_NOTE
        if tail:
            sent.append(tail)
            yield tail
        if end is None:
            # A stream without its end marker says nothing of usage or upstream: unknown, not made-up values.
            span.set_attribute("gen_ai.response.finish_reasons", ["unknown"])
            answer = AnswerEnd(finish_reason="unknown")
        else:
            span.set_attributes(gen_ai_attributes("chat", end))
            answer = AnswerEnd(
                finish_reason=end.finish_reason,
                input_tokens=end.input_tokens,
                output_tokens=end.output_tokens,
                deployment=end.deployment,
                model=end.model,
                ttft_s=end.ttft_s,
            )
        answer.cited, answer.dropped = list(checker.cited), list(checker.dropped)
        answer.withheld, answer.uncited = list(turn.withheld), uncited
        answer.removed_tags, answer.removed_links = markup.tags, markup.links
        for kind, count in (("tag", markup.tags), ("link", markup.links)):
            if count:
                self.metrics.answer_markup_removed_total.labels(kind).inc(count)
        span.set_attribute("chatfleet.citations.dropped", len(checker.dropped))
        span.end()
        await self.guards.record_usage(
            principal, answer.input_tokens + answer.output_tokens, turn.estimated_tokens
        )
        if turn.cache_slot is not None and self.cache is not None and reusable(turn, answer):
            await remember(self.cache, turn.cache_slot, turn, answer, "".join(sent))
        yield answer


def relevant_enough(hits: Sequence[Hit], minimum: float) -> bool:
    """Whether the best source reaches `minimum` relevance. Rank-based scores (hybrid's RRF) say nothing
    of relevance, so an off-topic question still gets `top` sources; this gate sends it to the no-answer
    template instead of the model. Hits without a measured relevance (text mode) are not judged."""
    measured = [h.relevance for h in hits if h.relevance is not None]
    return minimum <= 0 or not measured or max(measured) >= minimum


async def _abandon(
    first: asyncio.Future[Any], answer: AsyncGenerator[Any, None], prompt: list[dict[str, str]]
) -> int:
    """Stops an answer whose first event is pending or unread (the router closes the upstream stream);
    returns what the call cost: the model read its prompt."""
    first.cancel()
    with contextlib.suppress(BaseException):
        await first
    await answer.aclose()
    return estimate_message_tokens(prompt)
