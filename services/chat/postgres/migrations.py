"""Versioned schema migrations for PostgreSQL, applied at start-up, safe when several replicas start at once.

Each component (history, budget) has an append-only tuple of SQL scripts; `chatfleet_schema` records how
many of them ran. The whole upgrade runs in one transaction under a transaction-level advisory lock keyed by
the component, so replicas starting together queue on the lock: the first applies the scripts, the others
find the version current and apply nothing. DDL is transactional in PostgreSQL, so a failed script leaves
the schema at the previous version. A database newer than the service is refused (no downgrades).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from chatfleet.chat.postgres.connection import PostgresConfig, open_pool

_VERSIONS = """
CREATE TABLE IF NOT EXISTS chatfleet_schema (
    component text PRIMARY KEY,
    version integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
)
"""


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer service than this one."""


async def migrate(conn: AsyncConnection[Any], component: str, scripts: Sequence[str]) -> int:
    """Brings `component`'s tables to version len(scripts); returns the version."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"chatfleet-schema:{component}",))
        await conn.execute(_VERSIONS)
        row = await (
            await conn.execute("SELECT version FROM chatfleet_schema WHERE component = %s", (component,))
        ).fetchone()
        version = 0 if row is None else int(row[0])
        if version > len(scripts):
            raise SchemaTooNew(
                f"the {component} tables are at schema version {version}, newer than this service "
                f"({len(scripts)}): upgrade the service, never point an older one at them"
            )
        for script in scripts[version:]:
            await conn.execute(script)  # no parameters: several statements in one script
        if version < len(scripts):
            await conn.execute(
                "INSERT INTO chatfleet_schema (component, version) VALUES (%s, %s) ON CONFLICT (component) "
                "DO UPDATE SET version = excluded.version, updated_at = now()",
                (component, len(scripts)),
            )
    return len(scripts)


async def open_migrated_pool(
    config: PostgresConfig, *, name: str, component: str, scripts: Sequence[str]
) -> AsyncConnectionPool[AsyncConnection[Any]]:
    """A store's pool with its tables migrated, before the first request: a server that is down, or a
    schema newer than this service, fails start-up (and the pool is closed)."""
    pool = await open_pool(config, name=name)
    try:
        async with pool.connection() as conn:
            await migrate(conn, component, scripts)
    except BaseException:
        await pool.close()
        raise
    return pool
