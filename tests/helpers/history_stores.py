"""Where a test's conversation history lives, for either store: a SQLite file or a PostgreSQL database."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import psycopg

from chatfleet.chat.history import HistoryStore, PostgresHistoryStore, SqliteHistoryStore
from tests.helpers.postgres import PostgresServer


@dataclass
class StorePlace:
    """Where one test's history lives: `open()` opens (or reopens) a store on it; `turn_owners()` reads the
    turns table directly, behind the store's back."""

    kind: str
    path: Path | None = None
    server: PostgresServer | None = None
    database: str | None = None

    async def open(self) -> HistoryStore:
        if self.path is not None:
            return await SqliteHistoryStore.open(self.path)
        assert self.server is not None and self.database is not None
        return await PostgresHistoryStore.open(self.server.config(self.database))

    def turn_owners(self) -> list[str]:
        if self.path is not None:
            with sqlite3.connect(self.path) as conn:
                return [r[0] for r in conn.execute("SELECT DISTINCT user_id FROM turns ORDER BY 1")]
        assert self.server is not None and self.database is not None
        with psycopg.connect(
            self.server.config(self.database).conninfo(), password=self.server.app_password
        ) as c:
            return [r[0] for r in c.execute("SELECT DISTINCT user_id FROM history_turns ORDER BY 1")]
