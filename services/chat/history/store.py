"""The store contract: SQLite (one replica) and PostgreSQL (several) implement the same methods, so the
recorder, the routes and the tests do not change with the store."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Protocol

from chatfleet.chat.history.models import (
    Owner,
    RatedStoredTurn,
    SessionDetail,
    SessionPage,
    TurnFeedback,
    TurnRecord,
)


class InvalidCursor(ValueError):
    """A continuation token this store did not issue."""


def encode_cursor(updated_at: float, session_id: str) -> str:
    """Where the next page starts (keyset paging: the last session's position in the newest-first order)."""
    raw = json.dumps([updated_at, session_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        updated_at, session_id = json.loads(raw)
        if isinstance(updated_at, int | float) and isinstance(session_id, str):
            return float(updated_at), session_id
    except (binascii.Error, ValueError, TypeError):
        pass
    raise InvalidCursor("continuation_token is not one this service issued")


class HistoryStore(Protocol):
    """Every read and delete is scoped by the owner (tenant + user): another owner's sessions do not exist."""

    async def add_turns(self, turns: Sequence[tuple[Owner, TurnRecord]]) -> None:
        """Append turns (creating their sessions), all in one transaction."""
        ...

    async def list_sessions(self, owner: Owner, *, limit: int, cursor: str | None = None) -> SessionPage: ...

    async def get_session(self, owner: Owner, session_id: str) -> SessionDetail | None: ...

    async def set_feedback(self, owner: Owner, feedback: TurnFeedback) -> RatedStoredTurn | None:
        """Records (or replaces) the feedback on one of the owner's turns, returning it with the rating it
        replaced; None when there is no such turn."""
        ...

    async def delete_session(self, owner: Owner, session_id: str) -> bool: ...

    async def delete_all(self, owner: Owner) -> int: ...

    async def purge(self, older_than: float) -> int:
        """Removes sessions whose last turn is older than `older_than` (epoch seconds): the retention."""
        ...

    async def aclose(self) -> None: ...
