"""Conversation history: each finished turn kept server-side per tenant and user, behind `HistoryStore`."""

from chatfleet.chat.history.models import (
    Owner,
    RatedStoredTurn,
    SessionDetail,
    SessionPage,
    SessionSummary,
    StoredTurn,
    TurnFeedback,
    TurnRecord,
    new_session_id,
    session_id_of,
)
from chatfleet.chat.history.postgres_store import PostgresHistoryStore
from chatfleet.chat.history.recorder import HistoryRecorder
from chatfleet.chat.history.sqlite_store import SqliteHistoryStore
from chatfleet.chat.history.store import HistoryStore, InvalidCursor

__all__ = [
    "HistoryRecorder",
    "HistoryStore",
    "InvalidCursor",
    "Owner",
    "PostgresHistoryStore",
    "RatedStoredTurn",
    "SessionDetail",
    "SessionPage",
    "SessionSummary",
    "SqliteHistoryStore",
    "StoredTurn",
    "TurnFeedback",
    "TurnRecord",
    "new_session_id",
    "session_id_of",
]
