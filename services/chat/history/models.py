"""What history keeps: the owner of a conversation (tenant + user), one finished turn, session summaries."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

# Session ids travel in `session_state` and in URLs: short, URL-safe, no room for anything else.
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
TITLE_CHARS = 80


@dataclass(frozen=True)
class Owner:
    """Whose conversations: always both parts, from the verified token (never from the request body)."""

    tenant: str
    user: str


def new_session_id() -> str:
    return str(uuid.uuid4())


def session_id_of(session_state: Any) -> str | None:
    """The session id a client sent back in `session_state`, or None when it is not one of ours."""
    if isinstance(session_state, str) and _SESSION_ID.fullmatch(session_state):
        return session_state
    return None


def title_of(question: str) -> str:
    """A session's title: its first question on one line, cut at a word near TITLE_CHARS."""
    line = " ".join(question.split())
    if len(line) <= TITLE_CHARS:
        return line
    cut = line[:TITLE_CHARS].rsplit(" ", 1)[0] or line[:TITLE_CHARS]
    return cut + "…"


@dataclass(frozen=True)
class TurnRecord:
    """One finished turn as it is written: question, answer, the sources the answer cited, and what produced
    it (prompt versions, deployment, model, step timings)."""

    session_id: str
    question: str
    answer: str
    sources: list[dict[str, Any]]
    prompt_versions: dict[str, str]
    deployment: str | None
    model: str | None
    timings_ms: dict[str, float]
    created_at: float
    turn_id: str | None = None
    """What feedback on the turn names (sent in its closing line)."""


@dataclass(frozen=True)
class StoredTurn:
    question: str
    answer: str
    sources: list[dict[str, Any]]
    prompt_versions: dict[str, str]
    deployment: str | None
    model: str | None
    timings_ms: dict[str, float]
    created_at: float
    turn_id: str | None = None
    rating: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class TurnFeedback:
    """Feedback on a stored turn, with what the turn was answered with (the counter's labels)."""

    turn_id: str
    rating: str
    comment: str | None
    at: float


@dataclass(frozen=True)
class RatedStoredTurn:
    """A turn after its feedback was set, and the rating it had before: the counter counts a rating once,
    not again when the same rating comes back with a comment (the page sends 👎, then 👎 with a comment)."""

    turn: StoredTurn
    previous_rating: str | None


@dataclass(frozen=True)
class SessionSummary:
    id: str
    title: str
    created_at: float
    updated_at: float
    turns: int


@dataclass(frozen=True)
class SessionDetail:
    summary: SessionSummary
    turns: list[StoredTurn] = field(default_factory=list)


@dataclass(frozen=True)
class SessionPage:
    """One page of sessions, newest first; `cursor` continues after the last one (None: no more)."""

    sessions: list[SessionSummary]
    cursor: str | None
