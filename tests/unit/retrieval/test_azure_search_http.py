"""AzureSearchRetriever through the real async SDK against a loopback server speaking the search REST API:
what goes over the wire (filter, hybrid, semantic) and how answers become Hits."""

from collections.abc import Iterator

import pytest

from chatfleet.chat.embeddings import load_embedder
from chatfleet.chat.retrieval import Principal
from chatfleet.chat.retrieval.azure_search import AzureSearchRetriever
from chatfleet.chat.retrieval.odata_filter import principal_filter
from tests.helpers.http_stub import JsonHandler, serve_http

DOCS = [
    {"@search.score": 0.031, "@search.rerankerScore": 2.7, "source": "vpn.md", "chunk": 1, "title": "VPN",
     "content": "Use GlobalProtect.", "tenant": "contoso"},
    {"@search.score": 0.016, "@search.rerankerScore": 1.1, "source": "wifi.md", "chunk": 0, "title": "Wi-Fi",
     "content": "Guest network.", "tenant": "contoso"},
    {"@search.score": 0.030, "source": "leak.md", "chunk": 0, "title": "x", "content": "other tenant",
     "tenant": "fabrikam"},
]  # fmt: skip


@pytest.fixture
def search_service() -> Iterator[tuple[list[tuple[str, dict, dict]], str]]:
    seen: list[tuple[str, dict, dict]] = []

    class Handler(JsonHandler):
        def do_POST(self) -> None:
            seen.append((self.path, dict(self.headers), self.read_json()))
            self.send_json(200, {"value": DOCS}, "application/json; odata.metadata=none")

    with serve_http(Handler) as url:
        yield seen, url


async def test_hybrid_semantic_query_on_the_wire_and_hits(search_service):
    seen, url = search_service
    retriever = AzureSearchRetriever(
        url, "support", api_key="query-key", embedder=load_embedder("wordllama"), semantic_configuration="sem"
    )
    principal = Principal("contoso", oid="u1", groups=("g1",))
    hits = await retriever.search("connect vpn", principal, top=3, mode="hybrid", semantic_ranker=True)
    path, headers, body = seen[0]
    assert "/indexes('support')/docs/search.post.search" in path
    assert headers["api-key"] == "query-key"
    assert body["filter"] == principal_filter(principal)
    assert body["search"] == "connect vpn"
    assert body["queryType"] == "semantic" and body["semanticConfiguration"] == "sem"
    assert (
        body["vectorQueries"][0]["fields"] == "embedding" and len(body["vectorQueries"][0]["vector"]) == 256
    )
    # The other tenant's document is dropped even if the service returned it; reranker score is used.
    assert [(h.id, h.score) for h in hits] == [("vpn.md#1", 2.7), ("wifi.md#0", 1.1)]
    assert all(h.tenant == "contoso" for h in hits)
    await retriever.aclose()
    assert not retriever.ready()


async def test_minimum_score_filters_on_the_search_score(search_service):
    _, url = search_service
    retriever = AzureSearchRetriever(url, "support", api_key="k")
    hits = await retriever.search(
        "q", Principal("contoso"), mode="text", semantic_ranker=False, minimum_score=0.02
    )
    assert [h.id for h in hits] == ["vpn.md#1"]
    assert hits[0].score == pytest.approx(2.7)  # reranker score still reported when the service sent one
    await retriever.aclose()


async def test_visible_asks_for_exactly_the_pairs_under_the_callers_filter(search_service):
    """The semantic cache's ACL re-check: the listed chunks, under the same filter as a search; a document
    of another tenant in the answer is not counted as visible."""
    seen, url = search_service
    retriever = AzureSearchRetriever(url, "support", api_key="k", content_version="7")
    principal = Principal("contoso", oid="u1", groups=("g1",))
    visible = await retriever.visible([("vpn.md", 1), ("it's.md", 0)], principal)
    _, _, body = seen[0]
    assert body["filter"] == (
        f"{principal_filter(principal)} and ((source eq 'vpn.md' and chunk eq 1) or "
        "(source eq 'it''s.md' and chunk eq 0))"
    )
    assert body["top"] == 2
    assert ("leak.md", 0) not in visible and ("vpn.md", 1) in visible
    assert await retriever.index_version() == f"azure:{url}/support:7"
    await retriever.aclose()
