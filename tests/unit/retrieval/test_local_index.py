"""The local index on real SQLite: hybrid ranking, tenant isolation, ACLs, replacement and safe queries."""

import asyncio

import apsw
import pytest

from chatfleet.chat.retrieval import ChunkRecord, IndexMismatch, LocalIndex, Principal
from chatfleet.chat.retrieval.base import reciprocal_rank_fusion
from chatfleet.chat.retrieval.local_index.text_search import MAX_SCORED_TERMS, query_terms

CONTOSO = Principal(tenant="contoso", oid="u1")
FABRIKAM = Principal(tenant="fabrikam", oid="u2")


@pytest.mark.parametrize("mode", ["hybrid", "text", "vectors"])
async def test_search_finds_the_relevant_chunk_in_every_mode(index, mode):
    hits = await index.search("how many days to return hardware", CONTOSO, top=2, mode=mode)
    assert hits, mode
    assert hits[0].id == "returns.md#0"
    assert hits[0].tenant == "contoso"
    assert "30 days" in hits[0].content


async def test_never_returns_another_tenants_chunks(index):
    for mode in ("hybrid", "text", "vectors"):
        hits = await index.search("fabrikam secret policy returns 90 days", CONTOSO, top=10, mode=mode)
        assert all(h.tenant == "contoso" for h in hits)
        assert not any("Fabrikam" in h.content for h in hits)
    theirs = await index.search("returns", FABRIKAM, top=10)
    assert [h.tenant for h in theirs] == ["fabrikam"]


async def test_unknown_tenant_sees_nothing(index):
    assert await index.search("returns refunds router", Principal(tenant="nobody"), top=10) == []


async def test_acl_chunks_only_visible_to_listed_oid_or_group(index, embedder):
    records = [ChunkRecord(0, "Salaries", "Confidential salary bands for the returns team.")]
    vectors = embedder.embed([records[0].content])
    index.replace_source("contoso", "hr.md", "h", records, vectors, acl_oids=["boss"], acl_groups=["hr"])

    def sees(principal: Principal) -> bool:
        hits = index.search_sync("confidential salary bands", principal, top=10)
        return any(h.source == "hr.md" for h in hits)

    assert not sees(Principal("contoso", oid="u1"))
    assert not sees(Principal("contoso", oid="u1", groups=("sales", "hr' OR 1=1 --")))
    assert sees(Principal("contoso", oid="boss"))
    assert sees(Principal("contoso", oid="u1", groups=("sales", "hr")))
    assert not sees(Principal("fabrikam", oid="boss", groups=("hr",)))


async def test_replacing_a_source_swaps_its_chunks(index, embedder):
    assert index.source_hash("contoso", "wifi.md") == "hash-wifi.md"
    records = [ChunkRecord(0, "Mesh", "Mesh extenders pair with the base station by pressing WPS.")]
    index.replace_source("contoso", "wifi.md", "new", records, embedder.embed([records[0].content]))
    assert index.source_hash("contoso", "wifi.md") == "new"
    assert not any("firmware" in h.content for h in index.search_sync("router firmware", CONTOSO, top=10))
    assert any(h.id == "wifi.md#0" and "WPS" in h.content for h in index.search_sync("mesh WPS", CONTOSO))
    assert index.delete_source("contoso", "wifi.md") == 1
    assert index.counts() == {"contoso": 2, "fabrikam": 1}


@pytest.mark.parametrize(
    "query",
    [
        '"',
        "title: secret",
        "returns OR fabrikam*",
        "NEAR(a b)",
        "')); DROP TABLE chunks; --",
        "",
        "   ",
        "^*",
    ],
)
def test_hostile_query_text_is_just_text(index, query):
    hits = index.search_sync(query, CONTOSO, top=5)
    assert all(h.tenant == "contoso" for h in hits)
    assert index.counts()["contoso"] == 3


def test_query_terms_are_plain_words():
    assert query_terms('How do I "return" NEAR(x)? return') == ["return", "near", "x"]
    assert query_terms("the a of") == []


def test_terms_in_most_chunks_are_left_out_of_the_text_query(index):
    conn = index._connections.reader()
    text = index._text
    # "returns" is in 2 of 4 chunks (kept: not more than half); "contoso" in 1; "zebra" in none.
    # Kept terms come rarest first, at most MAX_SCORED_TERMS of them.
    assert text.selective_terms(conn, "returns contoso zebra", 0) == ['"contoso"', '"returns"']
    assert text.selective_terms(conn, "zebra", 0) == []
    many = "returns refunds router firmware wifi accepts hardware delivery unopened card"
    assert len(text.selective_terms(conn, many, 0)) == MAX_SCORED_TERMS


def test_text_search_relaxes_from_all_terms_to_any_term(index):
    strict = index.search_sync("unopened hardware delivery", CONTOSO, top=1, mode="text")
    assert [h.id for h in strict] == ["returns.md#0"]  # has all three terms
    relaxed = index.search_sync("unopened hardware refunds card", CONTOSO, top=3, mode="text")
    assert {h.id for h in relaxed} == {"returns.md#0", "returns.md#1"}  # no chunk has all four
    assert [h.score for h in relaxed] == sorted((h.score for h in relaxed), reverse=True)


def test_minimum_score_and_top(index):
    assert len(index.search_sync("returns refunds router", CONTOSO, top=1)) == 1
    assert index.search_sync("returns", CONTOSO, top=5, minimum_score=1.0) == []


def test_rrf_matches_the_azure_formula():
    scores = reciprocal_rank_fusion([[1, 2], [2, 3]])
    assert scores[2] == pytest.approx(1 / 62 + 1 / 61)
    assert scores[1] == pytest.approx(1 / 61)
    assert max(scores, key=scores.__getitem__) == 2


def test_opening_with_another_embedder_is_refused(index, tmp_path):
    class Other:
        name = "other"
        dim = 8

        def embed(self, texts):
            raise AssertionError("never called")

    with pytest.raises(IndexMismatch, match="embedder"):
        LocalIndex(index.path, Other())


async def test_concurrent_searches_use_their_own_connections(index):
    results = await asyncio.gather(*(index.search("refund card", CONTOSO, top=1) for _ in range(32)))
    assert all(r and r[0].id == "returns.md#1" for r in results)
    await index.aclose()
    assert not index.ready()
    with pytest.raises(RuntimeError, match="closed"):
        await index.search("x", CONTOSO)


async def test_sqlite_vec_path_and_memory_path_agree(index, embedder):
    """Tenants above the vector cache's max_rows are ranked by sqlite-vec; below, by the in-memory matrix."""
    in_memory = index.search_sync("router drops the wifi", CONTOSO, top=3, mode="vectors")
    index.vector_cache.max_rows = 0
    index.vector_cache.clear()
    by_sqlite_vec = index.search_sync("router drops the wifi", CONTOSO, top=3, mode="vectors")
    assert [h.id for h in in_memory] == [h.id for h in by_sqlite_vec]
    assert [round(h.score, 4) for h in in_memory] == [round(h.score, 4) for h in by_sqlite_vec]


async def test_vector_cache_follows_writes_from_another_connection(index, embedder):
    assert index.search_sync("mesh extenders WPS", CONTOSO, top=1, mode="vectors")[0].source != "mesh.md"
    writer = LocalIndex(index.path, embedder, readers=1)  # e.g. `chatfleet ingest` in another process
    records = [ChunkRecord(0, "Mesh", "Mesh extenders pair with the base station by pressing WPS.")]
    writer.replace_source("contoso", "mesh.md", "h", records, embedder.embed([records[0].content]))
    await writer.aclose()
    assert index.search_sync("mesh extenders WPS", CONTOSO, top=1, mode="vectors")[0].source == "mesh.md"


async def test_read_only_open_serves_searches_and_refuses_writes(index, embedder):
    await index.aclose()
    for suffix in ("-wal", "-shm"):
        assert not index.path.with_name(index.path.name + suffix).exists()  # closed cleanly: checkpointed
    frozen = LocalIndex(index.path, embedder, read_only=True)
    hits = await frozen.search("refund card", CONTOSO, top=1)
    assert hits and hits[0].id == "returns.md#1"
    with pytest.raises(apsw.ReadOnlyError):
        frozen.delete_source("contoso", "returns.md")
    await frozen.aclose()
    assert not index.path.with_name(index.path.name + "-wal").exists()
    with pytest.raises(FileNotFoundError):
        LocalIndex(index.path.with_name("missing.db"), embedder, read_only=True)
