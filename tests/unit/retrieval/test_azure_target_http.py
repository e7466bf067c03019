"""AzureSearchTarget (ingestion push) through the real sync SDK against a loopback server that keeps
documents in memory and speaks the REST calls the SDK makes: index get/create, search, index batch."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatfleet.chat.embeddings import load_embedder
from chatfleet.chat.ingest import ingest_paths
from chatfleet.chat.ingest.azure_target import AzureSearchTarget
from tests.helpers.http_stub import JsonHandler, serve_http

FILTER = re.compile(r"tenant eq '((?:[^']|'')*)'(?: and source eq '((?:[^']|'')*)')?")


class Store:
    def __init__(self) -> None:
        self.index: dict | None = None
        self.docs: dict[str, dict] = {}

    def matching(self, odata: str) -> list[dict]:
        match = FILTER.fullmatch(odata)
        assert match, odata
        tenant = match.group(1).replace("''", "'")
        source = match.group(2).replace("''", "'") if match.group(2) is not None else None
        return [d for d in self.docs.values() if d["tenant"] == tenant and source in (None, d["source"])]


@pytest.fixture
def service() -> Iterator[tuple[Store, str]]:
    store = Store()

    class Handler(JsonHandler):
        def reply(self, status: int, payload: dict) -> None:
            self.send_json(status, payload, "application/json; odata.metadata=none")

        def do_GET(self) -> None:
            if store.index is None:
                self.reply(404, {"error": {"code": "ResourceNotFound", "message": "no index"}})
            else:
                self.reply(200, store.index)

        def do_POST(self) -> None:
            body = self.read_json()
            if self.path.startswith("/indexes?") or self.path.startswith("/indexes("):
                if "docs/search.post.search" in self.path:
                    docs = store.matching(body["filter"])
                    if body.get("facets"):
                        counts: dict[str, int] = {}
                        for d in docs:
                            counts[d["source"]] = counts.get(d["source"], 0) + 1
                        facets = [{"value": k, "count": v} for k, v in counts.items()]
                        self.reply(200, {"value": [], "@search.facets": {"source": facets}})
                        return
                    docs = docs[: body.get("top", 50)]
                    self.reply(200, {"value": [{"@search.score": 1.0, **d} for d in docs]})
                elif "docs/search.index" in self.path:
                    results = []
                    for action in body["value"]:
                        kind = action.pop("@search.action")
                        if kind == "delete":
                            store.docs.pop(action["id"], None)
                        else:
                            store.docs[action["id"]] = action
                        results.append({"key": action["id"], "status": True, "statusCode": 200})
                    self.reply(200, {"value": results})
                else:
                    store.index = body
                    self.reply(201, body)
            else:
                self.reply(404, {"error": {"code": "NotFound", "message": self.path}})

    with serve_http(Handler) as url:
        yield store, url


def test_create_push_skip_replace_and_prune(service, tmp_path: Path):
    store, url = service
    embedder = load_embedder("wordllama")
    target = AzureSearchTarget(url, "support", dim=embedder.dim, api_key="admin-key")
    assert target.ensure_index() is True
    assert store.index is not None and store.index["name"] == "support"
    assert target.ensure_index() is False

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\n" + "Alpha sentence number one. " * 200)
    (docs / "b.md").write_text("# B\n\nBeta.")
    first = ingest_paths([docs], tenant="o'neil", embedder=embedder, targets=[target], acl_groups=["g"])
    assert first.ingested == 2 and len(store.docs) == first.chunks
    assert all(d["tenant"] == "o'neil" and d["acl_groups"] == ["g"] for d in store.docs.values())
    assert len(next(iter(store.docs.values()))["embedding"]) == embedder.dim

    again = ingest_paths([docs], tenant="o'neil", embedder=embedder, targets=[target], acl_groups=["g"])
    assert again.unchanged == 2

    (docs / "a.md").write_text("# A\n\nNow short.")
    ingest_paths([docs], tenant="o'neil", embedder=embedder, targets=[target], acl_groups=["g"])
    assert sorted(d["source"] for d in store.docs.values()) == ["a.md", "b.md"]  # leftovers deleted

    (docs / "b.md").unlink()
    pruned = ingest_paths(
        [docs], tenant="o'neil", embedder=embedder, targets=[target], acl_groups=["g"], prune=True
    )
    assert pruned.pruned == 1
    assert [d["source"] for d in store.docs.values()] == ["a.md"]
    target.close()
