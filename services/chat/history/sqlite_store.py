"""`SqliteHistoryStore`: history in one SQLite file (WAL), for a single replica and the local defaults.

stdlib `sqlite3` on one dedicated thread: every statement runs there, so the event loop never blocks on disk
and the connection is never shared between threads. The schema is versioned by `PRAGMA user_version` and
migrated at start-up, before the first request.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from chatfleet.chat.history.models import (
    Owner,
    RatedStoredTurn,
    SessionDetail,
    SessionPage,
    SessionSummary,
    StoredTurn,
    TurnFeedback,
    TurnRecord,
    title_of,
)
from chatfleet.chat.history.store import decode_cursor, encode_cursor

T = TypeVar("T")

# Append-only: each entry moves the schema one version up; released entries are never edited.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE sessions (
        tenant TEXT NOT NULL,
        user_id TEXT NOT NULL,
        id TEXT NOT NULL,
        title TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (tenant, user_id, id)
    ) WITHOUT ROWID;
    CREATE INDEX sessions_newest ON sessions (tenant, user_id, updated_at DESC, id DESC);
    CREATE INDEX sessions_by_age ON sessions (updated_at);
    CREATE TABLE turns (
        seq INTEGER PRIMARY KEY,
        tenant TEXT NOT NULL,
        user_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        question TEXT NOT NULL,
        answer TEXT NOT NULL,
        sources TEXT NOT NULL,
        prompt_versions TEXT NOT NULL,
        deployment TEXT,
        model TEXT,
        timings TEXT NOT NULL,
        created_at REAL NOT NULL,
        FOREIGN KEY (tenant, user_id, session_id) REFERENCES sessions (tenant, user_id, id) ON DELETE CASCADE
    );
    CREATE INDEX turns_of_session ON turns (tenant, user_id, session_id, seq);
    """,
    # 2: turn ids (named by feedback) and the feedback on a turn, kept with it and deleted with it.
    """
    ALTER TABLE turns ADD COLUMN turn_id TEXT;
    ALTER TABLE turns ADD COLUMN feedback_rating TEXT;
    ALTER TABLE turns ADD COLUMN feedback_comment TEXT;
    ALTER TABLE turns ADD COLUMN feedback_at REAL;
    CREATE UNIQUE INDEX turns_by_id ON turns (tenant, user_id, turn_id);
    """,
)


_TURN_COLUMNS = (
    "question, answer, sources, prompt_versions, deployment, model, timings, created_at, "
    "turn_id, feedback_rating, feedback_comment"
)
_OWNED = "FROM turns WHERE tenant = ? AND user_id = ?"
_TURNS_OF_SESSION = f"SELECT {_TURN_COLUMNS} {_OWNED} AND session_id = ? ORDER BY seq"
_TURN_BY_ID = f"SELECT {_TURN_COLUMNS} {_OWNED} AND turn_id = ?"
_EARLIER_TURNS = f"SELECT {_TURN_COLUMNS} {_OWNED} AND session_id = ? AND seq < ? ORDER BY seq"
_RATED_TURNS = (
    f"SELECT tenant, user_id, session_id, seq, {_TURN_COLUMNS} FROM turns "  # noqa: S608 (constants)
    "WHERE feedback_rating = ? ORDER BY feedback_at, seq"
)


def _stored(row: tuple[Any, ...]) -> StoredTurn:
    q, a, s, p, d, m, t, c, turn_id, rating, comment = row
    return StoredTurn(q, a, json.loads(s), json.loads(p), d, m, json.loads(t), c, turn_id, rating, comment)


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across a process crash, fast commits
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations this file is newer by; refuses a database from a newer service (no downgrade)."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > len(MIGRATIONS):
        raise RuntimeError(
            f"the history database is at schema version {version}, newer than this service "
            f"({len(MIGRATIONS)}): upgrade the service, never point an older one at it"
        )
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        try:
            conn.executescript(f"BEGIN IMMEDIATE; {script}; PRAGMA user_version = {number}; COMMIT;")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)


FEEDBACK_SCHEMA = 2
"""The first schema version with turn ids and feedback."""


@dataclass(frozen=True)
class RatedHistoryTurn:
    """A turn with feedback and the turns before it in its session (oldest first): an offline export."""

    tenant: str
    session_id: str
    turn: StoredTurn
    earlier: list[StoredTurn]


def read_rated_turns(path: Path, rating: str) -> list[RatedHistoryTurn]:
    """Every turn rated `rating`, across owners, from a history file opened read-only (a copy or the live
    WAL file: nothing is written or migrated). The user id is left out: the export does not need it."""
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if not FEEDBACK_SCHEMA <= version <= len(MIGRATIONS):
            raise ValueError(
                f"{path}: history schema version {version}; "
                f"feedback needs {FEEDBACK_SCHEMA} to {len(MIGRATIONS)}"
            )
        out = []
        for tenant, user, session_id, seq, *columns in conn.execute(_RATED_TURNS, (rating,)).fetchall():
            earlier = conn.execute(_EARLIER_TURNS, (tenant, user, session_id, seq)).fetchall()
            turn = _stored(tuple(columns))
            out.append(RatedHistoryTurn(tenant, session_id, turn, [_stored(r) for r in earlier]))
        return out
    except sqlite3.DatabaseError as error:
        raise ValueError(f"{path}: not a readable history database ({error})") from None
    finally:
        conn.close()


class SqliteHistoryStore:
    """HistoryStore on one SQLite file; `open()` connects and migrates (fails start-up on a bad file)."""

    def __init__(self, conn: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        self._conn = conn
        self._executor = executor

    @classmethod
    async def open(cls, path: Path) -> SqliteHistoryStore:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history-sqlite")
        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(executor, _connect, path)
            await loop.run_in_executor(executor, migrate, conn)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(conn, executor)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(self._conn)
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        return result

    async def add_turns(self, turns: Sequence[tuple[Owner, TurnRecord]]) -> None:
        def write(conn: sqlite3.Connection) -> None:
            for owner, turn in turns:
                conn.execute(
                    "INSERT INTO sessions (tenant, user_id, id, title, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (tenant, user_id, id) DO UPDATE SET updated_at = excluded.updated_at",
                    (
                        owner.tenant,
                        owner.user,
                        turn.session_id,
                        title_of(turn.question),
                        turn.created_at,
                        turn.created_at,
                    ),
                )
                conn.execute(
                    "INSERT INTO turns (tenant, user_id, session_id, question, answer, sources, "
                    "prompt_versions, deployment, model, timings, created_at, turn_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        owner.tenant,
                        owner.user,
                        turn.session_id,
                        turn.question,
                        turn.answer,
                        json.dumps(turn.sources),
                        json.dumps(turn.prompt_versions),
                        turn.deployment,
                        turn.model,
                        json.dumps(turn.timings_ms),
                        turn.created_at,
                        turn.turn_id,
                    ),
                )

        if turns:
            await self._run(self._transaction, write)

    async def list_sessions(self, owner: Owner, *, limit: int, cursor: str | None = None) -> SessionPage:
        after = decode_cursor(cursor) if cursor else None

        def read() -> list[tuple[Any, ...]]:
            sql = (
                "SELECT s.id, s.title, s.created_at, s.updated_at, "
                "(SELECT COUNT(*) FROM turns t WHERE t.tenant = s.tenant AND t.user_id = s.user_id "
                "AND t.session_id = s.id) FROM sessions s WHERE s.tenant = ? AND s.user_id = ?"
            )
            args: list[Any] = [owner.tenant, owner.user]
            if after is not None:
                sql += " AND (s.updated_at < ? OR (s.updated_at = ? AND s.id < ?))"
                args += [after[0], after[0], after[1]]
            sql += " ORDER BY s.updated_at DESC, s.id DESC LIMIT ?"
            args.append(limit + 1)
            return self._conn.execute(sql, args).fetchall()

        rows = await self._run(read)
        sessions = [SessionSummary(*row) for row in rows[:limit]]
        more = len(rows) > limit
        last = sessions[-1] if sessions else None
        return SessionPage(sessions, encode_cursor(last.updated_at, last.id) if more and last else None)

    async def get_session(self, owner: Owner, session_id: str) -> SessionDetail | None:
        def read() -> SessionDetail | None:
            head = self._conn.execute(
                "SELECT id, title, created_at, updated_at FROM sessions "
                "WHERE tenant = ? AND user_id = ? AND id = ?",
                (owner.tenant, owner.user, session_id),
            ).fetchone()
            if head is None:
                return None
            rows = self._conn.execute(_TURNS_OF_SESSION, (owner.tenant, owner.user, session_id)).fetchall()
            turns = [_stored(row) for row in rows]
            sid, title, created_at, updated_at = head
            return SessionDetail(SessionSummary(sid, title, created_at, updated_at, len(turns)), turns)

        return await self._run(read)

    async def set_feedback(self, owner: Owner, feedback: TurnFeedback) -> RatedStoredTurn | None:
        def write(conn: sqlite3.Connection) -> RatedStoredTurn | None:
            before = conn.execute(_TURN_BY_ID, (owner.tenant, owner.user, feedback.turn_id)).fetchone()
            if before is None:
                return None
            conn.execute(
                "UPDATE turns SET feedback_rating = ?, feedback_comment = ?, feedback_at = ? "
                "WHERE tenant = ? AND user_id = ? AND turn_id = ?",
                (feedback.rating, feedback.comment, feedback.at, owner.tenant, owner.user, feedback.turn_id),
            )
            earlier = _stored(before)
            rated = replace(earlier, rating=feedback.rating, comment=feedback.comment)
            return RatedStoredTurn(rated, earlier.rating)

        return await self._run(self._transaction, write)

    async def delete_session(self, owner: Owner, session_id: str) -> bool:
        def delete(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "DELETE FROM sessions WHERE tenant = ? AND user_id = ? AND id = ?",
                (owner.tenant, owner.user, session_id),
            )
            return cursor.rowcount > 0

        return await self._run(self._transaction, delete)

    async def delete_all(self, owner: Owner) -> int:
        def delete(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "DELETE FROM sessions WHERE tenant = ? AND user_id = ?", (owner.tenant, owner.user)
            )
            return cursor.rowcount

        return await self._run(self._transaction, delete)

    async def purge(self, older_than: float) -> int:
        def delete(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM sessions WHERE updated_at < ?", (older_than,)).rowcount

        return await self._run(self._transaction, delete)

    async def aclose(self) -> None:
        await self._run(self._conn.close)
        self._executor.shutdown(wait=True)
