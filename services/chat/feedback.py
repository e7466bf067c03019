"""Feedback on answers: a thumbs up or down (and an optional comment) tied to one turn by its `turn_id`.

The turn id goes out in the answer's closing line. Where the feedback is kept follows where the turn is:
with conversation history, on the turn's row (`HistoryStore.set_feedback`); without it, the service
remembers its recent turns here (`RecentTurns`, bounded, per process) and writes the feedback as one JSON
line to its log (`chatfleet.chat.feedback`), the durable record `chatfleet eval import-feedback --log`
reads. Either way only the turn's owner (tenant + user from the token) can rate it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from chatfleet.contracts.feedback import CitedSource, FeedbackLogRecord, Rating

__all__ = ["RatedTurn", "Rating", "RecentTurns", "log_feedback", "new_turn_id"]

log = logging.getLogger("chatfleet.chat.feedback")


def new_turn_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class RatedTurn:
    """What a rating is reported with: the turn as it was answered (never what the client claims)."""

    turn_id: str
    tenant: str
    user: str | None
    prompt_versions: dict[str, str]
    deployment: str | None
    sources: list[dict[str, Any]]
    question: str | None = None
    """Kept only with content logging on (it then goes into the feedback log line)."""
    session_id: str | None = None

    @property
    def answer_prompt(self) -> str:
        """The label of the feedback counter: the answer prompt's version."""
        return self.prompt_versions.get("answer", "unknown")


class RecentTurns:
    """The last `capacity` turns not kept by history, so feedback on them can be checked and described.
    Feedback on an older turn, or after a restart, finds nothing (404): without history, nothing else
    remembers the turn."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._turns: OrderedDict[str, RatedTurn] = OrderedDict()
        self._ratings: dict[str, Rating] = {}
        self._lock = threading.Lock()

    def add(self, turn: RatedTurn) -> None:
        with self._lock:
            self._turns[turn.turn_id] = turn
            while len(self._turns) > self.capacity:
                gone, _ = self._turns.popitem(last=False)
                self._ratings.pop(gone, None)

    def rate(self, turn: RatedTurn, rating: Rating) -> Rating | None:
        """Remembers the turn's rating and returns the one it replaces (None: its first), so the counter
        counts a rating once, as history's `set_feedback` lets it."""
        with self._lock:
            previous = self._ratings.get(turn.turn_id)
            if turn.turn_id in self._turns:
                self._ratings[turn.turn_id] = rating
            return previous

    def find(self, turn_id: str, tenant: str, user: str | None) -> RatedTurn | None:
        """The turn when it belongs to this tenant and user; another owner's turn does not exist."""
        with self._lock:
            turn = self._turns.get(turn_id)
        if turn is None or turn.tenant != tenant or turn.user != user:
            return None
        return turn


def log_feedback(turn: RatedTurn, rating: Rating, comment: str | None, *, at: float | None = None) -> str:
    """Writes the feedback as one JSON log line and returns it. The question is in it only when the turn
    kept it (content logging on); the user id never is."""
    record = FeedbackLogRecord(
        at=at if at is not None else time.time(),
        turn_id=turn.turn_id,
        tenant=turn.tenant,
        rating=rating,
        comment=comment,
        prompt_versions=turn.prompt_versions,
        deployment=turn.deployment,
        sources=[CitedSource(id=s["id"], source=s["source"]) for s in turn.sources],
        question=turn.question,
    )
    line = record.line()
    log.info("%s", line)
    return line
