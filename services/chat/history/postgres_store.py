"""`PostgresHistoryStore`: history in PostgreSQL, shared by every replica of an app.

The same contract and behaviour as the SQLite store (owner-scoped reads and deletes, keyset paging newest
first, retention by last use, feedback on a turn) on a psycopg 3 async pool. The tables are created and
upgraded at start-up by `chatfleet.chat.postgres.migrate` (advisory lock + version table), so several
replicas may start at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

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
from chatfleet.chat.postgres import PostgresConfig, open_migrated_pool

COMPONENT = "history"

# Append-only: each entry moves the schema one version up; released entries are never edited.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE history_sessions (
        tenant text NOT NULL,
        user_id text NOT NULL,
        id text NOT NULL,
        title text NOT NULL,
        created_at double precision NOT NULL,
        updated_at double precision NOT NULL,
        PRIMARY KEY (tenant, user_id, id)
    );
    CREATE INDEX history_sessions_newest ON history_sessions (tenant, user_id, updated_at DESC, id DESC);
    CREATE INDEX history_sessions_by_age ON history_sessions (updated_at);
    CREATE TABLE history_turns (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tenant text NOT NULL,
        user_id text NOT NULL,
        session_id text NOT NULL,
        question text NOT NULL,
        answer text NOT NULL,
        sources jsonb NOT NULL,
        prompt_versions jsonb NOT NULL,
        deployment text,
        model text,
        timings jsonb NOT NULL,
        created_at double precision NOT NULL,
        turn_id text,
        feedback_rating text,
        feedback_comment text,
        feedback_at double precision,
        FOREIGN KEY (tenant, user_id, session_id)
            REFERENCES history_sessions (tenant, user_id, id) ON DELETE CASCADE
    );
    CREATE INDEX history_turns_of_session ON history_turns (tenant, user_id, session_id, seq);
    CREATE UNIQUE INDEX history_turns_by_id ON history_turns (tenant, user_id, turn_id);
    """,
)

_TURN_COLUMNS = (
    "question, answer, sources, prompt_versions, deployment, model, timings, created_at, "
    "turn_id, feedback_rating, feedback_comment"
)
_TURNS_OF_SESSION = (
    f"SELECT {_TURN_COLUMNS} FROM history_turns "  # noqa: S608 (constants)
    "WHERE tenant = %s AND user_id = %s AND session_id = %s ORDER BY seq"
)
_TURN_BY_ID = (
    f"SELECT {_TURN_COLUMNS} FROM history_turns "  # noqa: S608 (constants)
    "WHERE tenant = %s AND user_id = %s AND turn_id = %s"
)
_SET_FEEDBACK = (
    "UPDATE history_turns SET feedback_rating = %s, feedback_comment = %s, feedback_at = %s "  # noqa: S608
    f"WHERE tenant = %s AND user_id = %s AND turn_id = %s RETURNING {_TURN_COLUMNS}"
)
_RATING_FOR_UPDATE = (
    "SELECT feedback_rating FROM history_turns WHERE tenant = %s AND user_id = %s AND turn_id = %s FOR UPDATE"
)
_UPSERT_SESSION = (
    "INSERT INTO history_sessions (tenant, user_id, id, title, created_at, updated_at) "
    "VALUES (%s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (tenant, user_id, id) DO UPDATE SET updated_at = excluded.updated_at"
)
_INSERT_TURN = (
    "INSERT INTO history_turns (tenant, user_id, session_id, question, answer, sources, prompt_versions, "
    "deployment, model, timings, created_at, turn_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_LIST = (
    "SELECT s.id, s.title, s.created_at, s.updated_at, "
    "(SELECT count(*) FROM history_turns t WHERE t.tenant = s.tenant AND t.user_id = s.user_id "
    "AND t.session_id = s.id) FROM history_sessions s WHERE s.tenant = %s AND s.user_id = %s "
)


def _stored(row: Sequence[Any]) -> StoredTurn:
    q, a, s, p, d, m, t, c, turn_id, rating, comment = row
    return StoredTurn(q, a, s, p, d, m, t, c, turn_id, rating, comment)


class PostgresHistoryStore:
    """HistoryStore on a PostgreSQL database; `open()` connects and migrates (or fails start-up)."""

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[Any]]) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, config: PostgresConfig) -> PostgresHistoryStore:
        pool = await open_migrated_pool(
            config, name="chatfleet-history", component=COMPONENT, scripts=MIGRATIONS
        )
        return cls(pool)

    async def add_turns(self, turns: Sequence[tuple[Owner, TurnRecord]]) -> None:
        if not turns:
            return
        sessions = [
            (o.tenant, o.user, t.session_id, title_of(t.question), t.created_at, t.created_at)
            for o, t in turns
        ]
        rows = [
            (
                o.tenant,
                o.user,
                t.session_id,
                t.question,
                t.answer,
                Jsonb(t.sources),
                Jsonb(t.prompt_versions),
                t.deployment,
                t.model,
                Jsonb(t.timings_ms),
                t.created_at,
                t.turn_id,
            )
            for o, t in turns
        ]
        async with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.executemany(_UPSERT_SESSION, sessions)
            await cur.executemany(_INSERT_TURN, rows)

    async def list_sessions(self, owner: Owner, *, limit: int, cursor: str | None = None) -> SessionPage:
        after = decode_cursor(cursor) if cursor else None
        sql = _LIST
        args: list[Any] = [owner.tenant, owner.user]
        if after is not None:
            sql += "AND (s.updated_at < %s OR (s.updated_at = %s AND s.id < %s)) "
            args += [after[0], after[0], after[1]]
        sql += "ORDER BY s.updated_at DESC, s.id DESC LIMIT %s"
        args.append(limit + 1)
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(sql, args)).fetchall()
        sessions = [SessionSummary(*row) for row in rows[:limit]]
        more = len(rows) > limit
        last = sessions[-1] if sessions else None
        return SessionPage(sessions, encode_cursor(last.updated_at, last.id) if more and last else None)

    async def get_session(self, owner: Owner, session_id: str) -> SessionDetail | None:
        key = (owner.tenant, owner.user, session_id)
        async with self._pool.connection() as conn, conn.transaction():  # one snapshot for head and turns
            head = await (
                await conn.execute(
                    "SELECT id, title, created_at, updated_at FROM history_sessions "
                    "WHERE tenant = %s AND user_id = %s AND id = %s",
                    key,
                )
            ).fetchone()
            if head is None:
                return None
            rows = await (await conn.execute(_TURNS_OF_SESSION, key)).fetchall()
        turns = [_stored(row) for row in rows]
        sid, title, created_at, updated_at = head
        return SessionDetail(SessionSummary(sid, title, created_at, updated_at, len(turns)), turns)

    async def set_feedback(self, owner: Owner, feedback: TurnFeedback) -> RatedStoredTurn | None:
        key = (owner.tenant, owner.user, feedback.turn_id)
        async with self._pool.connection() as conn, conn.transaction():
            before = await (await conn.execute(_RATING_FOR_UPDATE, key)).fetchone()
            if before is None:
                return None
            row = await (
                await conn.execute(
                    _SET_FEEDBACK,
                    (
                        feedback.rating,
                        feedback.comment,
                        feedback.at,
                        owner.tenant,
                        owner.user,
                        feedback.turn_id,
                    ),
                )
            ).fetchone()
        assert row is not None  # the row is locked since the SELECT
        return RatedStoredTurn(_stored(row), before[0])

    async def delete_session(self, owner: Owner, session_id: str) -> bool:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM history_sessions WHERE tenant = %s AND user_id = %s AND id = %s",
                (owner.tenant, owner.user, session_id),
            )
            return cur.rowcount > 0

    async def delete_all(self, owner: Owner) -> int:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM history_sessions WHERE tenant = %s AND user_id = %s", (owner.tenant, owner.user)
            )
            return cur.rowcount

    async def purge(self, older_than: float) -> int:
        async with self._pool.connection() as conn:
            cur = await conn.execute("DELETE FROM history_sessions WHERE updated_at < %s", (older_than,))
            return cur.rowcount

    async def aclose(self) -> None:
        await self._pool.close()
