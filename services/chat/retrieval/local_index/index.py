"""`LocalIndex`: the Retriever over one local index file (text and vector candidates fused like Azure hybrid
search), and the write side `chatfleet ingest` uses. The package docstring says why SQLite works this way."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import cast

import apsw
import numpy as np

from chatfleet.chat.embeddings import Embedder
from chatfleet.chat.retrieval.base import Hit, Principal, RetrievalMode, reciprocal_rank_fusion
from chatfleet.chat.retrieval.local_index import writes
from chatfleet.chat.retrieval.local_index.connections import Connections
from chatfleet.chat.retrieval.local_index.schema import (
    VISIBLE_TO_CALLER,
    ensure_schema,
    has_vocabulary,
    read_generation,
)
from chatfleet.chat.retrieval.local_index.text_search import TextSearch
from chatfleet.chat.retrieval.local_index.vector_cache import DEFAULT_VECTOR_CACHE_ROWS, VectorCache
from chatfleet.chat.retrieval.local_index.vector_search import VectorSearch
from chatfleet.chat.retrieval.local_index.writes import ChunkRecord
from chatfleet.contracts.citations import citation_id

MAX_KNN = 4096  # sqlite-vec's upper bound for k
# The listed (source, chunk) pairs (a JSON list of pairs in :wanted) the caller may read.
_VISIBLE_SQL = f"""
SELECT c.source, c.chunk FROM json_each(:wanted) AS j CROSS JOIN chunks c
ON c.source = json_extract(j.value, '$[0]') AND c.chunk = json_extract(j.value, '$[1]')
WHERE {VISIBLE_TO_CALLER}
"""  # noqa: S608 (module constants composed; values are bound)


class LocalIndex:
    """Implements Retriever over a local SQLite file; also the write side used by `chatfleet ingest`."""

    def __init__(
        self,
        path: str | Path,
        embedder: Embedder,
        *,
        readers: int = 4,
        vector_cache_rows: int = DEFAULT_VECTOR_CACHE_ROWS,
        read_only: bool = False,
    ) -> None:
        """`read_only` opens the file as immutable (no WAL, no locks, no writes): for an index shipped in an
        image or mounted read-only, where SQLite could not create its -wal/-shm files next to it."""
        self.path = Path(path)
        self.read_only = read_only
        self.embedder = embedder
        self._closed = False
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.is_file():
            raise FileNotFoundError(f"local index {self.path} does not exist")
        self._connections = Connections(self.path, read_only=read_only)
        self._writer = self._connections.open()
        ensure_schema(self._writer, embedder, self.path, read_only=read_only)
        self._text = TextSearch(has_vocabulary=has_vocabulary(self._writer))
        self._executor = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="local-index")
        self.vector_cache = VectorCache(embedder.dim, vector_cache_rows)
        self._vectors = VectorSearch(embedder, self.vector_cache)

    # --- read side (Retriever) ---------------------------------------------------------------------

    def ready(self) -> bool:
        return not self._closed

    async def search(
        self,
        query: str,
        principal: Principal,
        *,
        top: int = 5,
        mode: RetrievalMode = "hybrid",
        semantic_ranker: bool = True,
        minimum_score: float = 0.0,
    ) -> list[Hit]:
        """`semantic_ranker` is accepted for interface parity; the local index has no reranker model."""
        if self._closed:
            raise RuntimeError("the local index is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, self.search_sync, query, principal, top, mode, minimum_score
        )

    def search_sync(
        self,
        query: str,
        principal: Principal,
        top: int = 5,
        mode: RetrievalMode = "hybrid",
        minimum_score: float = 0.0,
    ) -> list[Hit]:
        """Blocking search; runs on a pool thread with that thread's connection."""
        if top < 1:
            return []
        conn = self._connections.reader()
        scope: dict[str, object] = {
            "tenant": principal.tenant,
            "oid": principal.oid,
            "groups": json.dumps(list(principal.groups)),
        }
        candidates = min(max(top * 8, 40), MAX_KNN)
        generation = read_generation(conn)
        text_ranked: list[tuple[int, float]] = []
        vector_ranked: list[tuple[int, float]] = []
        if mode in ("hybrid", "text"):
            text_ranked = self._text.candidates(conn, query, scope, candidates, generation, wanted=top)
        if mode in ("hybrid", "vectors"):
            vector_ranked = self._vectors.candidates(conn, query, scope, candidates, generation)
        if mode == "text":
            scores = {rowid: score for rowid, score in text_ranked}
        elif mode == "vectors":
            scores = {rowid: score for rowid, score in vector_ranked}
        else:
            scores = reciprocal_rank_fusion([[r for r, _ in text_ranked], [r for r, _ in vector_ranked]])
        ranked = sorted(
            ((rowid, s) for rowid, s in scores.items() if s >= minimum_score), key=lambda x: -x[1]
        )[:top]
        return self._hits(conn, ranked, principal.tenant, dict(vector_ranked))

    async def visible(self, chunks: Sequence[tuple[str, int]], principal: Principal) -> set[tuple[str, int]]:
        """The pairs the principal may read, by the tenant and ACL predicate every search applies."""
        if self._closed:
            raise RuntimeError("the local index is closed")
        if not chunks:
            return set()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._visible_sync, list(chunks), principal)

    def _visible_sync(self, chunks: list[tuple[str, int]], principal: Principal) -> set[tuple[str, int]]:
        conn = self._connections.reader()
        scope = {
            "wanted": json.dumps([[source, chunk] for source, chunk in chunks]),
            "tenant": principal.tenant,
            "oid": principal.oid,
            "groups": json.dumps(list(principal.groups)),
        }
        # cast: apsw types a row as any SQLite values; both columns are typed in the schema
        rows = cast(list[tuple[str, int]], conn.execute(_VISIBLE_SQL, scope).fetchall())
        return {(source, int(chunk)) for source, chunk in rows}

    async def index_version(self) -> str:
        """The embedder and the file's write generation, which every ingestion bumps (any tenant's: a
        conservative version, never a stale one)."""
        if self._closed:
            raise RuntimeError("the local index is closed")
        loop = asyncio.get_running_loop()
        generation = await loop.run_in_executor(
            self._executor, lambda: read_generation(self._connections.reader())
        )
        return f"local:{self.embedder.name}:{generation}"

    @staticmethod
    def _hits(
        conn: apsw.Connection, ranked: list[tuple[int, float]], tenant: str, similarity: dict[int, float]
    ) -> list[Hit]:
        if not ranked:
            return []
        cursor = conn.execute(
            "SELECT c.rowid, c.tenant, c.source, c.chunk, c.title, c.content "
            "FROM json_each(?) AS j CROSS JOIN chunks c ON c.rowid = j.value WHERE c.tenant = ?",
            (json.dumps([r for r, _ in ranked]), tenant),
        )
        # cast: apsw types a row as any SQLite values; these are the columns' types in the schema
        rows = cast(list[tuple[int, str, str, int, str, str]], cursor.fetchall())
        by_rowid = {row[0]: row for row in rows}
        hits = []
        for rowid, score in ranked:
            row = by_rowid.get(rowid)
            if row is None:  # deleted between the two reads: skip rather than fail the turn
                continue
            _, row_tenant, source, chunk, title, content = row
            cited = citation_id(source, chunk)
            hits.append(
                Hit(cited, source, chunk, title, content, float(score), row_tenant, similarity.get(rowid))
            )
        return hits

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=True)
        self._connections.close_all()

    # --- write side (ingestion) --------------------------------------------------------------------

    def source_hash(self, tenant: str, source: str) -> str | None:
        """The content hash recorded when the source was last ingested (None if never)."""
        return writes.source_hash(self._writer, tenant, source)

    def replace_source(
        self,
        tenant: str,
        source: str,
        content_hash: str,
        chunks: Sequence[ChunkRecord],
        vectors: np.ndarray,
        *,
        acl_oids: Iterable[str] = (),
        acl_groups: Iterable[str] = (),
    ) -> None:
        """Atomically swaps all chunks of (tenant, source): readers see the old or the new set, never half."""
        writes.replace_source(
            self._writer,
            self.embedder.dim,
            tenant,
            source,
            content_hash,
            chunks,
            vectors,
            acl_oids=acl_oids,
            acl_groups=acl_groups,
        )

    def delete_source(self, tenant: str, source: str) -> int:
        """Removes a source's chunks; returns how many there were."""
        with self._writer:  # commits or rolls back; never swallows an exception (its stub says bool)
            removed = writes.delete_source(self._writer, tenant, source)
        return removed

    def sources(self, tenant: str) -> list[str]:
        """Names of the tenant's ingested sources (for `chatfleet ingest --prune`)."""
        return writes.sources(self._writer, tenant)

    def counts(self) -> dict[str, int]:
        """Chunks per tenant (for `chatfleet ingest` output and readiness logs)."""
        return writes.counts(self._writer)
