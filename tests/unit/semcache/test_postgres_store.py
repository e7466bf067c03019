"""`PostgresCacheStore` on a real PostgreSQL server: what only a shared store has to get right. One cache
for several replicas (two stores, two pools, one database), an entry read back as it was kept, the table's
bounds (TTL purge, entries per scope), and a slow store raising within its timeout instead of holding a turn.
"""

from collections.abc import AsyncIterator

import numpy as np
import psycopg
import pytest

from chatfleet.chat.protocol import Citation
from chatfleet.chat.semcache import CachedAnswer, PostgresCacheStore
from tests.helpers.postgres import PostgresServer

DIM = 8


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


def entry(scope: str, at: float, vector: np.ndarray, answer: str = "a") -> CachedAnswer:
    citation = Citation(id="vpn.md#0", source="vpn.md", title="VPN", content="Reset it.", score=0.5)
    return CachedAnswer(
        scope, "contoso", vector, answer, [citation], [("vpn.md", 0)], ["vpn.md#0"], "d", "m", 42, at
    )


@pytest.fixture
def database(postgres: PostgresServer) -> str:
    return postgres.database()


@pytest.fixture
async def store(postgres: PostgresServer, database: str) -> AsyncIterator[PostgresCacheStore]:
    opened = await PostgresCacheStore.open(
        postgres.config(database), ttl_s=100, max_scope_entries=3, timeout_s=10
    )
    yield opened
    await opened.aclose()


def rows(postgres: PostgresServer, database: str) -> list[tuple[str, float]]:
    with postgres.admin(database) as conn:
        return conn.execute("SELECT scope, created_at FROM semcache_entries ORDER BY 2").fetchall()


async def test_an_entry_kept_by_one_replica_is_found_by_another(
    postgres: PostgresServer, database: str, store: PostgresCacheStore
) -> None:
    other = await PostgresCacheStore.open(
        postgres.config(database), ttl_s=100, max_scope_entries=3, timeout_s=10
    )
    try:
        kept = entry("s", 1000.0, unit(1), answer="Use the portal [vpn.md#0].")
        await store.add(entry("s", 999.0, unit(2)))
        await store.add(kept)
        found = await other.nearest("s", unit(1), since=900.0)
    finally:
        await other.aclose()
    assert found is not None
    got, similarity = found
    assert similarity == pytest.approx(1.0, abs=1e-6), "the nearest of the scope's two entries"
    assert got.id > 0 and got.vector.tolist() == pytest.approx(kept.vector.tolist())
    same = ("scope", "tenant", "answer", "citations", "chunks", "cited", "deployment", "model", "tokens")
    assert all(getattr(got, name) == getattr(kept, name) for name in same)
    assert got.created_at == kept.created_at
    assert await store.nearest("other scope", unit(1), since=0.0) is None
    assert await store.nearest("s", unit(1), since=1000.5) is None, "none created since"
    assert await store.nearest("s", unit(1)[:4] / np.linalg.norm(unit(1)[:4]), since=0.0) is None, (
        "a vector of another embedder's size is never compared"
    )


async def test_the_table_is_bounded_by_ttl_and_entries_per_scope(
    postgres: PostgresServer, database: str, store: PostgresCacheStore
) -> None:
    await store.add(entry("old", 1.0, unit(1)))
    for at in (200.0, 201.0, 202.0, 203.0):
        await store.add(entry("s", at, unit(int(at))))
    assert rows(postgres, database) == [("s", 201.0), ("s", 202.0), ("s", 203.0)], (
        "the expired entry of another scope purged, the scope's oldest past 3 dropped"
    )
    found = await store.nearest("s", unit(200), since=0.0)
    assert found is not None and found[0].created_at != 200.0


async def test_a_slow_store_raises_within_its_timeout(postgres: PostgresServer, database: str) -> None:
    """A table locked by someone else stands for a store that does not answer: the lookup and the write give
    up at the timeout (the chain then answers afresh), and the store works again once the lock is gone."""
    store = await PostgresCacheStore.open(
        postgres.config(database), ttl_s=100, max_scope_entries=3, timeout_s=0.2
    )
    try:
        await store.add(entry("s", 100.0, unit(1)))
        with postgres.admin(database) as locker, locker.transaction():
            locker.execute("LOCK TABLE semcache_entries IN ACCESS EXCLUSIVE MODE")
            with pytest.raises((TimeoutError, psycopg.Error)):
                await store.nearest("s", unit(1), since=0.0)
            with pytest.raises((TimeoutError, psycopg.Error)):
                await store.add(entry("s", 101.0, unit(2)))
        assert await store.nearest("s", unit(1), since=0.0) is not None
    finally:
        await store.aclose()
