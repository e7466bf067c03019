"""The semantic cache's matching rules on real parts: a real local index (its ACLs and write generation),
the WordLlama embedder retrieval uses, and each store: in memory, and in a real PostgreSQL database (the
session's server, a fresh database per test). The clock is a value the test moves (TTL)."""

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from chatfleet.chat.embeddings import load_embedder
from chatfleet.chat.protocol import Citation
from chatfleet.chat.retrieval import ChunkRecord, LocalIndex, Principal
from chatfleet.chat.semcache import (
    CachedAnswer,
    CacheSlot,
    CacheStore,
    MemoryCacheStore,
    PostgresCacheStore,
    SemanticCache,
    standalone,
)
from tests.helpers.postgres import PostgresServer

VERSIONS = {"answer": "2", "query_rewrite": "1"}
OPTIONS = {"top": 5, "temperature": 0.3}
QUESTION = "How do I reset my VPN password?"
ALICE = Principal("contoso", oid="alice", groups=("vpn-admins",))
BOB = Principal("contoso", oid="bob")
EVE = Principal("fabrikam", oid="eve", groups=("vpn-admins",))


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def index(tmp_path: Path):
    embedder = load_embedder("wordllama")
    idx = LocalIndex(tmp_path / "index.sqlite", embedder)
    for tenant in ("contoso", "fabrikam"):
        text = "Reset the VPN password on the self-service portal."
        idx.replace_source(tenant, "vpn.md", "h", [ChunkRecord(0, "VPN", text)], embedder.embed([text]))
    text = "Admins reset VPN tokens in the admin console."
    idx.replace_source(
        "contoso", "admin.md", "h", [ChunkRecord(0, "Admin", text)], embedder.embed([text]),
        acl_groups=["vpn-admins"],
    )  # fmt: skip
    yield idx
    await idx.aclose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "postgres"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[CacheStore]:
    """An empty store of the test's kind (a PostgreSQL one on a database of its own)."""
    opened: CacheStore
    if request.param == "memory":
        opened = MemoryCacheStore(100)
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        config = server.config(server.database())
        opened = await PostgresCacheStore.open(config, ttl_s=600, max_scope_entries=100, timeout_s=10)
    yield opened
    await opened.aclose()


@pytest.fixture
def cache(index: LocalIndex, clock: Clock, store: CacheStore) -> SemanticCache:
    return SemanticCache(store, load_embedder("wordllama"), index, threshold=0.9, ttl_s=600, clock=clock)


async def keep(cache: SemanticCache, slot: CacheSlot, chunks: list[tuple[str, int]]) -> None:
    citations = [Citation(id=f"{s}#{c}", source=s, title=s, content="...", score=1.0) for s, c in chunks]
    await cache.remember(
        slot,
        answer="Use the self-service portal [vpn.md#0].",
        citations=citations,
        chunks=chunks,
        cited=["vpn.md#0"],
        deployment="d",
        model="m",
        tokens=321,
    )


async def ask(cache: SemanticCache, question: str, principal: Principal, **scope: object):
    versions = scope.get("versions", VERSIONS)
    options = scope.get("options", OPTIONS)
    slot = await cache.slot(question, principal.tenant, versions, options)  # type: ignore[arg-type]
    return slot, await cache.lookup(slot, principal)


async def test_same_and_near_duplicate_questions_hit_a_different_one_does_not(cache: SemanticCache) -> None:
    slot, first = await ask(cache, QUESTION, ALICE)
    assert first.outcome == "miss"
    await keep(cache, slot, [("vpn.md", 0)])
    _, again = await ask(cache, QUESTION, BOB)
    assert again.outcome == "hit" and again.hit is not None
    assert again.hit.similarity == pytest.approx(1.0, abs=1e-5) and again.hit.entry.tokens == 321
    _, near = await ask(cache, "how can I reset my  VPN password?", BOB)
    assert near.outcome == "hit" and near.hit is not None and near.hit.similarity >= 0.9
    _, other = await ask(cache, "Where can I park my bicycle at the office?", BOB)
    assert other.outcome == "miss"


async def test_threshold_is_the_least_similarity_served(
    index: LocalIndex, clock: Clock, store: CacheStore
) -> None:
    embedder = load_embedder("wordllama")
    near = "How can I reset my VPN password?"
    similarity = float(embedder.embed([QUESTION.casefold()])[0] @ embedder.embed([near.casefold()])[0])
    assert similarity < 1.0
    for threshold, outcome in ((similarity - 1e-4, "hit"), (similarity + 1e-4, "miss")):
        cache = SemanticCache(store, embedder, index, threshold=threshold, ttl_s=600, clock=clock)
        slot, _ = await ask(cache, QUESTION, ALICE)
        await keep(cache, slot, [("vpn.md", 0)])
        assert (await ask(cache, near, ALICE))[1].outcome == outcome


async def test_another_tenant_never_gets_the_entry(cache: SemanticCache) -> None:
    slot, _ = await ask(cache, QUESTION, ALICE)
    await keep(cache, slot, [("vpn.md", 0)])
    _, theirs = await ask(cache, QUESTION, EVE)  # same question, same source name, same group name
    assert theirs.outcome == "miss"
    with pytest.raises(ValueError, match="own tenant"):
        await cache.lookup(slot, EVE)


async def test_prompt_versions_and_answer_options_are_part_of_the_match(cache: SemanticCache) -> None:
    slot, _ = await ask(cache, QUESTION, ALICE)
    await keep(cache, slot, [("vpn.md", 0)])
    assert (await ask(cache, QUESTION, ALICE, versions={**VERSIONS, "answer": "3"}))[1].outcome == "miss"
    assert (await ask(cache, QUESTION, ALICE, options={**OPTIONS, "top": 3}))[1].outcome == "miss"
    assert (await ask(cache, QUESTION, ALICE))[1].outcome == "hit"


async def test_an_ingestion_changes_the_index_version(cache: SemanticCache, index: LocalIndex) -> None:
    slot, _ = await ask(cache, QUESTION, ALICE)
    await keep(cache, slot, [("vpn.md", 0)])
    before = await index.index_version()
    text = "The VPN portal moved."
    index.replace_source(
        "fabrikam", "news.md", "h2", [ChunkRecord(0, "News", text)], cache.embedder.embed([text])
    )
    assert await index.index_version() != before
    assert (await ask(cache, QUESTION, ALICE))[1].outcome == "miss"


async def test_served_only_if_the_caller_may_read_every_source(
    cache: SemanticCache, index: LocalIndex
) -> None:
    slot, _ = await ask(cache, QUESTION, ALICE)
    await keep(cache, slot, [("vpn.md", 0), ("admin.md", 0)])
    assert (await ask(cache, QUESTION, ALICE))[1].outcome == "hit"
    assert (await ask(cache, QUESTION, BOB))[1].outcome == "denied", "admin.md is for vpn-admins only"
    assert await index.visible([("vpn.md", 0), ("admin.md", 0), ("gone.md", 0)], BOB) == {("vpn.md", 0)}


async def test_entries_expire_after_the_ttl(cache: SemanticCache, clock: Clock) -> None:
    slot, _ = await ask(cache, QUESTION, ALICE)
    await keep(cache, slot, [("vpn.md", 0)])
    clock.now += 600
    assert (await ask(cache, QUESTION, ALICE))[1].outcome == "hit"
    clock.now += 1
    assert (await ask(cache, QUESTION, ALICE))[1].outcome == "miss"


async def test_a_stale_store_answer_is_checked_not_trusted(cache: SemanticCache, clock: Clock) -> None:
    """A store returning an expired or foreign entry (a buggy backend) still gets no hit."""

    class Careless(MemoryCacheStore):
        async def nearest(self, scope, vector, *, since):
            return await super().nearest(scope, vector, since=0.0)

    cache.store = Careless(10)
    slot, _ = await ask(cache, QUESTION, ALICE)
    await keep(cache, slot, [("vpn.md", 0)])
    clock.now += 601
    assert (await ask(cache, QUESTION, ALICE))[1].outcome == "miss"


def test_only_a_first_question_is_standalone() -> None:
    assert standalone([("user", QUESTION)])
    assert not standalone([("user", "How do I reset it?"), ("assistant", "Which one?"), ("user", QUESTION)])
    assert not standalone([("assistant", "Hi"), ("user", QUESTION)])


async def test_store_keeps_at_most_max_entries_oldest_out_first() -> None:
    store = MemoryCacheStore(2)
    vector = np.ones(4, dtype=np.float32) / 2

    def entry(scope: str, at: float) -> CachedAnswer:
        return CachedAnswer(scope, "t", vector, "a", [], [], [], None, None, 1, at)

    for scope, at in (("a", 1.0), ("b", 2.0), ("a", 3.0)):
        await store.add(entry(scope, at))
    assert len(store) == 2
    found = await store.nearest("a", vector, since=0.0)
    assert found is not None and found[0].created_at == 3.0
    assert await store.nearest("b", vector, since=2.5) is None, "too old for `since`"
    await store.add(entry("c", 4.0))
    assert await store.nearest("b", vector, since=0.0) is None, "evicted: the oldest"
