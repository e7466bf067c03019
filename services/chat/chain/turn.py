"""A turn's types: what a request asks for, the options it runs with, what is known before the first answer
token, and how the answer ended. Plain data, so the api layer and the chain's steps share them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from chatfleet.chat.protocol import Citation, DataPoints, Thought
from chatfleet.chat.retrieval import Hit, RetrievalMode
from chatfleet.chat.semcache import CacheHit, CacheSlot

FOLLOWUPS = 3


@dataclass(frozen=True)
class TurnOverrides:
    """What one request asks for; None (or False) means the service's default."""

    top: int | None = None
    retrieval_mode: RetrievalMode | None = None
    semantic_ranker: bool | None = None
    minimum_search_score: float | None = None
    temperature: float | None = None
    seed: int | None = None
    max_tokens: int | None = None
    suggest_followup_questions: bool = False


@dataclass(frozen=True)
class TurnOptions:
    """Everything a turn's steps read, resolved once per request from its overrides and the settings
    (`ChatChain.options`), so no step looks at settings or the request again."""

    top: int
    retrieval_mode: RetrievalMode
    semantic_ranker: bool
    minimum_search_score: float
    minimum_relevance: float
    temperature: float
    seed: int | None
    max_tokens: int
    suggest_followup_questions: bool
    query_rewrite: str
    guards_overlap: bool
    log_content: bool
    link_hosts: frozenset[str] = frozenset()
    uncited_answer: str = "annotate"

    def answer_shape(self) -> dict[str, Any]:
        """The options an answer depends on (part of its semantic-cache scope): everything but how the
        turn is screened and logged, and the follow-up suggestions (made afresh from the sources)."""
        shape = asdict(self)
        for name in ("guards_overlap", "log_content", "suggest_followup_questions"):
            del shape[name]
        shape["link_hosts"] = sorted(self.link_hosts)
        return shape

    def rewrites(self, history: Sequence[dict[str, str]]) -> bool:
        """`auto` rewrites follow-ups only: a single question is already a standalone search query."""
        return self.query_rewrite == "always" or (
            self.query_rewrite == "auto" and any(m["role"] == "user" for m in history)
        )


@dataclass
class Unscreened:
    """What `stream` still screens while the model works: the question (None when it was screened before a
    rewrite) and the retrieved sources, with what composing the prompt again without some of them takes."""

    question: str | None
    hits: list[Hit]
    history: list[dict[str, str]]
    steps: list[Thought]


@dataclass
class PreparedTurn:
    """Everything known before the first answer token. `revision` counts compositions: a stream's opening
    line rendered from an earlier one is stale (the screen withheld a source after it was rendered)."""

    question: str
    search_query: str
    citations: list[Citation]
    thoughts: list[Thought]
    options: TurnOptions
    prompt_messages: list[dict[str, str]] | None = None
    fixed_answer: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    estimated_tokens: int = 0
    unscreened: Unscreened | None = None
    revision: int = 0
    withheld: list[str] = field(default_factory=list)
    # (source, chunk) of each citation, in order: what the semantic cache re-checks ACLs on.
    sources: list[tuple[str, int]] = field(default_factory=list)
    # A standalone question's place in the semantic cache (its answer is kept there), or the entry served.
    cache_slot: CacheSlot | None = None
    cached: CacheHit | None = None

    @property
    def data_points(self) -> DataPoints:
        return DataPoints(text=[f"{c.id}: {c.content}" for c in self.citations], citations=self.citations)

    def followup_questions(self, cited: Sequence[str]) -> list[str]:
        """Suggestions from retrieved documents the answer did not use: real leads the index can answer."""
        seen = {c.title for c in self.citations if c.id in cited}
        questions = []
        for citation in self.citations:
            if citation.id in cited or citation.title in seen:
                continue
            seen.add(citation.title)
            questions.append(f"What does \u201c{citation.title}\u201d say about this?")
        return questions[:FOLLOWUPS]


@dataclass
class AnswerEnd:
    """The last event of an answer stream: usage, upstream, and the citation check's verdict."""

    finish_reason: str
    input_tokens: int = 0
    output_tokens: int = 0
    deployment: str | None = None
    model: str | None = None
    ttft_s: float | None = None
    cited: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)
    uncited: str | None = None
    removed_tags: int = 0
    removed_links: int = 0
    # Set when the answer came from the semantic cache: what was reused, and what it saved.
    cache: dict[str, Any] | None = None


def end_thought(end: AnswerEnd) -> Thought:
    """The answer step as shown in context.thoughts at the end of a turn."""
    return Thought(
        title="Answer",
        props={
            "deployment": end.deployment,
            "model": end.model,
            "finish_reason": end.finish_reason,
            "input_tokens": end.input_tokens,
            "output_tokens": end.output_tokens,
            "ttft_ms": round(end.ttft_s * 1000, 2) if end.ttft_s is not None else None,
            "cited": end.cited,
            "dropped_citations": end.dropped,
            # Source ids only: a withheld passage's text is what the screen kept from the model.
            "withheld_sources": end.withheld,
            "uncited_answer": end.uncited,
            "removed_markup": {"tags": end.removed_tags, "links": end.removed_links},
            "semantic_cache": end.cache,
        },
    )
