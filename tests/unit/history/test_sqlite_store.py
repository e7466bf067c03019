"""SqliteHistoryStore's own parts on a real SQLite file: its schema version, WAL, a newer file refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from chatfleet.chat.history import Owner, SqliteHistoryStore, TurnRecord
from chatfleet.chat.history.sqlite_store import MIGRATIONS

ADA = Owner("contoso", "user-a")


def turn(session_id: str, question: str, at: float) -> TurnRecord:
    return TurnRecord(session_id, question, "answer", [], {}, None, None, {}, at)


async def test_history_survives_reopening_and_migrations_run_once(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "history.sqlite"
    first = await SqliteHistoryStore.open(path)
    await first.add_turns([(ADA, turn("session-1", "kept", 1.0))])
    await first.aclose()
    second = await SqliteHistoryStore.open(path)
    try:
        assert [s.id for s in (await second.list_sessions(ADA, limit=5)).sessions] == ["session-1"]
    finally:
        await second.aclose()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_a_database_from_a_newer_service_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(RuntimeError, match="newer than this service"):
        await SqliteHistoryStore.open(path)
