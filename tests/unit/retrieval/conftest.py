"""A small real index (real SQLite, real sqlite-vec, real WordLlama vectors) shared by the retrieval tests."""

from pathlib import Path

import pytest

from chatfleet.chat.embeddings import load_embedder
from chatfleet.chat.retrieval import ChunkRecord, LocalIndex

DOCS = {
    ("contoso", "returns.md"): [
        ("Returns", "Contoso accepts returns of unopened hardware within 30 days of delivery."),
        ("Refunds", "Refunds are paid to the original card within five business days."),
    ],
    ("contoso", "wifi.md"): [
        ("Router", "If the router drops the wifi connection, update its firmware and restart it."),
    ],
    ("fabrikam", "returns.md"): [
        ("Returns", "Fabrikam secret policy: returns are accepted within 90 days, no questions asked."),
    ],
}


@pytest.fixture
def embedder():
    return load_embedder("wordllama")


@pytest.fixture
async def index(tmp_path: Path, embedder):
    idx = LocalIndex(tmp_path / "index.db", embedder)
    for (tenant, source), chunks in DOCS.items():
        records = [ChunkRecord(i, title, text) for i, (title, text) in enumerate(chunks)]
        idx.replace_source(
            tenant, source, f"hash-{source}", records, embedder.embed([c.content for c in records])
        )
    yield idx
    await idx.aclose()
