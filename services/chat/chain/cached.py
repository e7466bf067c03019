"""What the chain keeps in and serves from the semantic cache (`chatfleet.chat.semcache`): which answers
are kept, the turn a hit becomes, and the events a cached answer streams as (the same as a fresh one's)."""

from __future__ import annotations

import logging
import re

from chatfleet.chat.chain.turn import AnswerEnd, PreparedTurn, TurnOptions
from chatfleet.chat.protocol import Thought
from chatfleet.chat.semcache import CacheHit, CacheSlot, SemanticCache

log = logging.getLogger("chatfleet.chat.chain")

# A cached answer is sent in pieces of at least this many characters, cut after whitespace, as deltas.
REPLAY_PIECE_CHARS = 48
_WORDS = re.compile(r"\S*\s*")


def reusable(turn: PreparedTurn, answer: AnswerEnd) -> bool:
    """Only a grounded answer that ended normally is kept: never a no-answer (the chain returns before), a
    refused turn (it raised), a turn whose sources the screen withheld, a cut or filtered answer, or one
    citing no source."""
    return (
        answer.finish_reason == "stop"
        and bool(answer.cited)
        and answer.uncited is None
        and not turn.withheld
        and bool(turn.citations)
    )


async def remember(
    cache: SemanticCache, slot: CacheSlot, turn: PreparedTurn, answer: AnswerEnd, text: str
) -> None:
    """Keeps a grounded answer for close enough questions; a failing store costs the reuse, never the
    turn."""
    try:
        await cache.remember(
            slot,
            answer=text,
            citations=list(turn.citations),
            chunks=list(turn.sources),
            cited=list(answer.cited),
            deployment=answer.deployment,
            model=answer.model,
            tokens=answer.input_tokens + answer.output_tokens,
        )
    except Exception:
        log.warning("semantic cache store failed; the answer is not kept", exc_info=True)


def served_turn(
    hit: CacheHit, question: str, options: TurnOptions, timings: dict[str, float], threshold: float
) -> PreparedTurn:
    """The prepared turn of a hit: the entry's sources as data points, one thought saying where it is from."""
    thought = Thought(
        title="Answer from the semantic cache",
        description="A close enough earlier question of this tenant was answered from the same sources.",
        props={
            "similarity": round(hit.similarity, 4),
            "threshold": threshold,
            "age_s": round(hit.age_s, 1),
            "duration_ms": round(timings.get("cache_lookup", 0.0), 2),
        },
    )
    return PreparedTurn(
        question,
        question,
        list(hit.entry.citations),
        [thought],
        options,
        timings_ms=timings,
        sources=list(hit.entry.chunks),
        cached=hit,
    )


def replay(hit: CacheHit) -> list[str | AnswerEnd]:
    """A cached answer as a fresh one streams: deltas, then an AnswerEnd whose thought says where it came
    from. It is sent as it was kept (already through the citation check and the markup policy, whose
    settings are part of its scope); no model call, so no tokens."""
    entry = hit.entry
    end = AnswerEnd(
        finish_reason="stop",
        deployment=entry.deployment,
        model=entry.model,
        cited=list(entry.cited),
        cache={
            "hit": True,
            "similarity": round(hit.similarity, 4),
            "age_s": round(hit.age_s, 1),
            "saved_tokens": entry.tokens,
        },
    )
    return [*pieces(entry.answer, REPLAY_PIECE_CHARS), end]


def pieces(text: str, size: int) -> list[str]:
    """`text` cut after whitespace into pieces of at least `size` characters (the last may be shorter)."""
    out: list[str] = []
    current = ""
    for word in _WORDS.findall(text):
        current += word
        if len(current) >= size:
            out.append(current)
            current = ""
    if current:
        out.append(current)
    return out
