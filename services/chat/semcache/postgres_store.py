"""`PostgresCacheStore`: the semantic cache in PostgreSQL, one cache shared by every replica of an app.

No pgvector: Debian's bookworm archive has no `postgresql-15-pgvector` package, so the tests (which run
Debian's server) could not exercise it. The question vector is stored as float32 bytes and ranked in numpy:
a lookup reads the ids and vectors of one scope's fresh entries (the scope is a tenant + prompt versions +
index version + options; at most `max_scope_entries` rows, so the read is bounded) as one binary value,
takes the nearest by dot product (unit vectors: cosine), and reads only that entry's answer. Two short
queries on one connection.

The table is bounded: an add drops the entries older than the TTL (of any scope) and the scope's oldest past
`max_scope_entries`. Times are the cache's clock (`CachedAnswer.created_at`, epoch seconds), so every
replica compares ages the same way as the in-memory store does.

Every round trip is bounded by `timeout_s`: a slow or down store raises (TimeoutError, psycopg.Error) and the
chain answers afresh and keeps nothing, as for any failing store; a turn never waits longer than that.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from chatfleet.chat.postgres import PostgresConfig, open_migrated_pool
from chatfleet.chat.protocol import Citation
from chatfleet.chat.semcache.store import CachedAnswer

COMPONENT = "semcache"
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE semcache_entries (
        id bigserial PRIMARY KEY,
        scope text NOT NULL,
        tenant text NOT NULL,
        vector bytea NOT NULL,
        answer jsonb NOT NULL,
        created_at double precision NOT NULL
    );
    CREATE INDEX semcache_entries_scope ON semcache_entries (scope, created_at DESC);
    CREATE INDEX semcache_entries_age ON semcache_entries (created_at);
    """,
)

# The scope's fresh vectors as ONE bytea (concatenated in id order) and their ids: a single value to
# decode, not one row per entry (per-row decoding cost ~15 ms at 1000 entries, bench/semcache_store_bench.py).
_CANDIDATES = (
    "SELECT array_agg(id ORDER BY id), string_agg(vector, ''::bytea ORDER BY id) FROM ("
    "SELECT id, vector FROM semcache_entries WHERE scope = %(scope)s AND created_at >= %(since)s "
    "AND octet_length(vector) = %(size)s ORDER BY created_at DESC LIMIT %(limit)s) AS fresh"
)
_ENTRY = "SELECT scope, tenant, answer, created_at FROM semcache_entries WHERE id = %s"
_INSERT = (
    "INSERT INTO semcache_entries (scope, tenant, vector, answer, created_at) "
    "VALUES (%(scope)s, %(tenant)s, %(vector)s, %(answer)s, %(created_at)s)"
)
_EXPIRED = "DELETE FROM semcache_entries WHERE created_at < %(expired)s"
_OVER_BOUND = (
    "DELETE FROM semcache_entries WHERE id IN (SELECT id FROM semcache_entries WHERE scope = %(scope)s "
    "ORDER BY created_at DESC, id DESC OFFSET %(limit)s)"
)


class PostgresCacheStore:
    """Implements CacheStore on a pool of its own (as history and budgets have)."""

    def __init__(
        self,
        pool: AsyncConnectionPool[AsyncConnection[Any]],
        *,
        ttl_s: float,
        max_scope_entries: int,
        timeout_s: float,
    ) -> None:
        if max_scope_entries < 1:
            raise ValueError("max_scope_entries must be at least 1")
        self._pool = pool
        self.ttl_s = ttl_s
        self.max_scope_entries = max_scope_entries
        self.timeout_s = timeout_s

    @classmethod
    async def open(
        cls, config: PostgresConfig, *, ttl_s: float, max_scope_entries: int, timeout_s: float
    ) -> PostgresCacheStore:
        """Connects and migrates before the first request (a store that is down fails start-up)."""
        pool = await open_migrated_pool(
            config, name="chatfleet-semcache", component=COMPONENT, scripts=MIGRATIONS
        )
        return cls(pool, ttl_s=ttl_s, max_scope_entries=max_scope_entries, timeout_s=timeout_s)

    async def nearest(
        self, scope: str, vector: np.ndarray, *, since: float
    ) -> tuple[CachedAnswer, float] | None:
        query = np.asarray(vector, dtype=np.float32)
        args = {"scope": scope, "since": since, "size": query.nbytes, "limit": self.max_scope_entries}
        async with asyncio.timeout(self.timeout_s), self._pool.connection(self.timeout_s) as conn:
            row = await (await conn.execute(_CANDIDATES, args, binary=True)).fetchone()
            if row is None or not row[0]:  # no fresh entry: the aggregates are NULL
                return None
            ids, vectors = row
            matrix = np.frombuffer(vectors, dtype=np.float32).reshape(len(ids), query.size)
            similarity = matrix @ query
            best = int(np.argmax(similarity))
            found = await (await conn.execute(_ENTRY, (ids[best],))).fetchone()
        if found is None:  # purged between the two reads
            return None
        return _entry(ids[best], matrix[best].copy(), *found), float(similarity[best])

    async def add(self, entry: CachedAnswer) -> None:
        answer = {
            "answer": entry.answer,
            "citations": [c.model_dump() for c in entry.citations],
            "chunks": [list(c) for c in entry.chunks],
            "cited": entry.cited,
            "deployment": entry.deployment,
            "model": entry.model,
            "tokens": entry.tokens,
        }
        args = {
            "scope": entry.scope,
            "tenant": entry.tenant,
            "vector": np.asarray(entry.vector, dtype=np.float32).tobytes(),
            "answer": Jsonb(answer),
            "created_at": entry.created_at,
            "expired": entry.created_at - self.ttl_s,
            "limit": self.max_scope_entries,
        }
        async with asyncio.timeout(self.timeout_s), self._pool.connection(self.timeout_s) as conn:
            await conn.execute(_INSERT, args)
            await conn.execute(_EXPIRED, args)
            await conn.execute(_OVER_BOUND, args)

    async def aclose(self) -> None:
        await self._pool.close()


def _entry(
    ident: int, vector: np.ndarray, scope: str, tenant: str, payload: dict[str, Any], created_at: float
) -> CachedAnswer:
    """A row back as the entry it was kept as (psycopg decodes the jsonb)."""
    return CachedAnswer(
        scope=scope,
        tenant=tenant,
        vector=vector,
        answer=payload["answer"],
        citations=[Citation.model_validate(c) for c in payload["citations"]],
        chunks=[(str(s), int(c)) for s, c in payload["chunks"]],
        cited=list(payload["cited"]),
        deployment=payload["deployment"],
        model=payload["model"],
        tokens=int(payload["tokens"]),
        created_at=float(created_at),
        id=ident,
    )
