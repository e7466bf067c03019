"""The local index of the two-tenant sample corpus (examples/corpus/<tenant>/*.md), built once per corpus
version in the user cache, so `chatfleet serve` with nothing configured answers real questions."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from chatfleet.paths import SAMPLE_CORPUS_DIR

CORPUS_DIR = SAMPLE_CORPUS_DIR


def corpus_digest(corpus: Path = CORPUS_DIR) -> str:
    """Changes whenever a corpus file changes, so a stale cached index is never reused."""
    digest = hashlib.sha256()
    for path in sorted(corpus.glob("*/*.md")):
        digest.update(str(path.relative_to(corpus)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def default_location(embedder: str) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "chatfleet" / f"sample-index-{embedder}-{corpus_digest()}.sqlite"


def _build(path: Path, embedder_name: str) -> None:
    from chatfleet.chat.embeddings import load_embedder
    from chatfleet.chat.ingest import ingest_paths
    from chatfleet.chat.retrieval import LocalIndex

    embedder = load_embedder(embedder_name)
    partial = path.with_name(path.name + ".partial")
    for leftover in path.parent.glob(partial.name + "*"):
        leftover.unlink()
    index = LocalIndex(partial, embedder)
    try:
        for tenant_dir in sorted(p for p in CORPUS_DIR.iterdir() if p.is_dir()):
            ingest_paths([tenant_dir], tenant=tenant_dir.name, embedder=embedder, targets=[index])
    finally:
        asyncio.run(index.aclose())
    partial.replace(path)


async def build_sample_index(path: Path | None = None, embedder: str = "wordllama") -> Path:
    """Ingests every tenant folder of the corpus with the real pipeline; skipped when already built."""
    path = path or default_location(embedder)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(_build, path, embedder)
    return path
