"""The local index: one SQLite file with FTS5 (BM25) and sqlite-vec vectors, fused like Azure hybrid search.

Why apsw: the stdlib `sqlite3` of the supported Pythons cannot load extensions, so it cannot load
sqlite-vec. Why a thread pool with one connection per thread: SQLite calls block, and a chat turn must
never stall the event loop that is streaming other users' answers. WAL mode lets ingestion write while
the service reads.

Tenant isolation is structural: the vector table is partitioned by tenant (a KNN query only ever scans
the caller's partition), every SQL query carries `tenant = :tenant` plus the ACL predicate, and both
come only from the verified Principal.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

import apsw
import numpy as np
import sqlite_vec

from chatfleet.chat.embeddings import Embedder
from chatfleet.chat.retrieval.base import Hit, Principal, RetrievalMode, reciprocal_rank_fusion
from chatfleet.contracts.citations import citation_id

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
# Tenants up to this many chunks keep their vectors in memory (dim x 4 bytes each: 10 MB per 10,000 at
# 256 dims) and are ranked with one numpy matrix-vector product; larger ones are ranked by sqlite-vec.
DEFAULT_VECTOR_CACHE_ROWS = 250_000
MAX_QUERY_TERMS = 32
# BM25 scores are dominated by the rarest terms; matching on these bounds the postings a query reads.
MAX_SCORED_TERMS = 4
MAX_KNN = 4096  # sqlite-vec's upper bound for k
# Words that match nearly every chunk add nothing to BM25 but cost a scan of every posting list.
STOPWORDS = frozenset(
    (
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "could", "do", "does", "for", "from",
        "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "no", "not", "of", "on", "or", "our",
        "so", "than", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "we",
        "what", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your",
    )
)  # fmt: skip
_TERM = re.compile(r"\w+", re.UNICODE)

# Both candidate queries carry the visibility predicate, written out in full so it can be reviewed:
# same tenant AND (no ACL on the chunk OR the caller's oid or one of its groups is listed on it).
_TEXT_SQL = """
SELECT c.rowid, bm25(chunks_fts, 2.0, 1.0) AS rank
FROM chunks_fts CROSS JOIN chunks c ON c.rowid = chunks_fts.rowid
WHERE chunks_fts MATCH :match AND
    c.tenant = :tenant AND (
        c.has_acl = 0 OR EXISTS (
            SELECT 1 FROM chunk_acl a WHERE a.chunk_rowid = c.rowid AND (
                (a.kind = 'oid' AND a.value = :oid)
                OR (a.kind = 'group' AND a.value IN (SELECT value FROM json_each(:groups)))
            )
        )
    )
ORDER BY rank LIMIT :limit
"""
_VECTOR_SQL = """
WITH knn AS (
    SELECT rowid, distance FROM chunks_vec
    WHERE embedding MATCH :vector AND k = :limit AND tenant = :tenant
)
SELECT c.rowid, knn.distance FROM knn CROSS JOIN chunks c ON c.rowid = knn.rowid
WHERE
    c.tenant = :tenant AND (
        c.has_acl = 0 OR EXISTS (
            SELECT 1 FROM chunk_acl a WHERE a.chunk_rowid = c.rowid AND (
                (a.kind = 'oid' AND a.value = :oid)
                OR (a.kind = 'group' AND a.value IN (SELECT value FROM json_each(:groups)))
            )
        )
    )
ORDER BY knn.distance
"""


@dataclass(frozen=True)
class _TenantVectors:
    """One tenant's vectors as a matrix, valid for one index generation."""

    generation: int
    rowids: np.ndarray
    matrix: np.ndarray
    has_acl: bool


_VISIBLE_ROWIDS_SQL = """
SELECT c.rowid FROM json_each(:rowids) AS j CROSS JOIN chunks c ON c.rowid = j.value
WHERE
    c.tenant = :tenant AND (
        c.has_acl = 0 OR EXISTS (
            SELECT 1 FROM chunk_acl a WHERE a.chunk_rowid = c.rowid AND (
                (a.kind = 'oid' AND a.value = :oid)
                OR (a.kind = 'group' AND a.value IN (SELECT value FROM json_each(:groups)))
            )
        )
    )
"""


_GENERATION_SQL = "SELECT COALESCE((SELECT value FROM meta WHERE key = 'generation'), '0')"


class IndexMismatch(RuntimeError):
    """The index file was built with another embedder (vectors would be meaningless) or schema."""


@dataclass(frozen=True)
class ChunkRecord:
    """One chunk as ingestion writes it; its citation id is f"{source}#{chunk}"."""

    chunk: int
    title: str
    content: str


def _quote(term: str) -> str:
    """An FTS5 string: the term is matched as text, never parsed as query syntax."""
    return '"' + term.replace('"', '""') + '"'


def query_terms(text: str) -> list[str]:
    """User text -> distinct lower-case words, stopwords removed. Each is later double-quoted, so no FTS5
    operator, column filter or prefix syntax from the user ever reaches MATCH."""
    terms: list[str] = []
    for term in _TERM.findall(text.lower()):
        if term in STOPWORDS or term in terms:
            continue
        terms.append(term)
        if len(terms) == MAX_QUERY_TERMS:
            break
    return terms


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
        self._local = threading.local()
        self._connections: list[apsw.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.is_file():
            raise FileNotFoundError(f"local index {self.path} does not exist")
        self._writer = self._open()
        self._ensure_schema(self._writer)
        self._has_vocab = self._writer.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'chunks_vocab'"
        ).fetchone()
        self._executor = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="local-index")
        self._embed_query = lru_cache(maxsize=2048)(self._embed_one)
        self.vector_cache_rows = vector_cache_rows
        self._vectors: dict[str, _TenantVectors] = {}
        self._vectors_lock = threading.Lock()
        self._document_frequency: dict[str, int] = {}
        self._df_generation = -1
        self._chunk_total = 0

    # --- connections -------------------------------------------------------------------------------

    def _open(self) -> apsw.Connection:
        if self.read_only:
            uri = f"file:{quote(str(self.path.resolve()))}?immutable=1"
            conn = apsw.Connection(uri, flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
        else:
            conn = apsw.Connection(str(self.path))
        conn.set_busy_timeout(5000)
        conn.enable_load_extension(True)
        conn.load_extension(sqlite_vec.loadable_path())
        conn.enable_load_extension(False)
        if not self.read_only:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            self._connections.append(conn)
        return conn

    def _stemmer(self, conn: apsw.Connection) -> apsw.FTS5Tokenizer:
        """The index's own FTS5 tokenizer (porter), so document frequencies are looked up by the same stem."""
        stemmer = getattr(self._local, "stemmer", None)
        if stemmer is None:
            stemmer = self._local.stemmer = conn.fts5_tokenizer(
                "porter", ["unicode61", "remove_diacritics", "2"]
            )
        return stemmer

    def _reader(self) -> apsw.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._open()
        return conn

    def _ensure_schema(self, conn: apsw.Connection) -> None:
        if self.read_only:
            self._check_meta(dict(conn.execute("SELECT key, value FROM meta").fetchall()))
            return
        with conn:
            conn.execute("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            if meta:  # an existing index: check it first, then add what older versions lacked
                self._check_meta(meta)
                conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('generation', '0')")
                conn.execute(
                    "CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vocab USING fts5vocab(chunks_fts, row)"
                )
                return
            expected = {
                "schema": SCHEMA_VERSION,
                "embedder": self.embedder.name,
                "dim": str(self.embedder.dim),
                "generation": "0",
            }
            conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", list(expected.items()))
            conn.execute(
                """
                CREATE TABLE sources(
                    tenant TEXT NOT NULL, source TEXT NOT NULL, content_hash TEXT NOT NULL,
                    chunks INTEGER NOT NULL, ingested_at REAL NOT NULL,
                    PRIMARY KEY (tenant, source)) WITHOUT ROWID;
                CREATE TABLE chunks(
                    rowid INTEGER PRIMARY KEY, tenant TEXT NOT NULL, source TEXT NOT NULL,
                    chunk INTEGER NOT NULL, title TEXT NOT NULL, content TEXT NOT NULL,
                    has_acl INTEGER NOT NULL DEFAULT 0, UNIQUE (tenant, source, chunk));
                CREATE TABLE chunk_acl(
                    chunk_rowid INTEGER NOT NULL REFERENCES chunks(rowid) ON DELETE CASCADE,
                    kind TEXT NOT NULL CHECK (kind IN ('oid', 'group')), value TEXT NOT NULL,
                    PRIMARY KEY (chunk_rowid, kind, value)) WITHOUT ROWID;
                CREATE VIRTUAL TABLE chunks_fts USING fts5(
                    title, content, content='chunks', content_rowid='rowid',
                    tokenize='porter unicode61 remove_diacritics 2');
                CREATE VIRTUAL TABLE chunks_vocab USING fts5vocab(chunks_fts, row);
                """
            )
            conn.execute(
                f"CREATE VIRTUAL TABLE chunks_vec USING vec0("
                f"embedding float[{int(self.embedder.dim)}] distance_metric=cosine, "
                f"tenant text partition key)"
            )

    def _check_meta(self, meta: dict[str, str]) -> None:
        expected = {"schema": SCHEMA_VERSION, "embedder": self.embedder.name, "dim": str(self.embedder.dim)}
        wrong = {k: (meta.get(k), v) for k, v in expected.items() if meta.get(k) != v}
        if wrong:
            found = ", ".join(f"{k}={a!r} (need {b!r})" for k, (a, b) in wrong.items())
            raise IndexMismatch(
                f"index {self.path} was built differently: {found}; re-ingest into a new file "
                "or choose the embedder it was built with (CHATFLEET_EMBEDDER)"
            )

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
        conn = self._reader()
        scope = {
            "tenant": principal.tenant,
            "oid": principal.oid,
            "groups": json.dumps(list(principal.groups)),
        }
        candidates = min(max(top * 8, 40), MAX_KNN)
        generation = int(conn.execute(_GENERATION_SQL).fetchone()[0])
        text_ranked: list[tuple[int, float]] = []
        vector_ranked: list[tuple[int, float]] = []
        if mode in ("hybrid", "text"):
            text_ranked = self._text_candidates(conn, query, scope, candidates, generation, wanted=top)
        if mode in ("hybrid", "vectors"):
            vector_ranked = self._vector_candidates(conn, query, scope, candidates, generation)
        if mode == "text":
            scores = {rowid: score for rowid, score in text_ranked}
        elif mode == "vectors":
            scores = {rowid: score for rowid, score in vector_ranked}
        else:
            scores = reciprocal_rank_fusion([[r for r, _ in text_ranked], [r for r, _ in vector_ranked]])
        ranked = sorted(
            ((rowid, s) for rowid, s in scores.items() if s >= minimum_score), key=lambda x: -x[1]
        )[:top]
        return self._hits(conn, ranked, scope["tenant"])

    def _text_candidates(
        self,
        conn: apsw.Connection,
        query: str,
        scope: dict[str, object],
        limit: int,
        generation: int,
        wanted: int,
    ) -> list[tuple[int, float]]:
        """Candidates by coordination, ranked by BM25: chunks containing all selected terms first, then
        relaxing by dropping the most common remaining term, then any term, until `wanted` are found.

        An OR over the terms made FTS5 score every chunk that has any of them (thousands at 10k chunks);
        an AND reads the rarest posting list and stays under a millisecond, and chunks that contain more of
        the question's rare words are what BM25 ranks first anyway (97% top-5 agreement on the benchmark).
        """
        terms = self._selective_terms(conn, query, generation)
        if not terms:
            return []
        ranked: list[tuple[int, float]] = []
        seen: set[int] = set()
        # All terms, then without the most common one, ...; finally any term (only reached when even the
        # rarest term alone is in fewer than `wanted` chunks).
        matches = [" AND ".join(terms[:count]) for count in range(len(terms), 0, -1)]
        if len(terms) > 1:
            matches.append(" OR ".join(terms))
        for match in matches:
            rows = conn.execute(_TEXT_SQL, {**scope, "match": match, "limit": limit}).fetchall()
            for rowid, rank in rows:
                if rowid not in seen:
                    seen.add(rowid)
                    # FTS5's bm25() is negative (lower is better); report the conventional positive score.
                    ranked.append((rowid, -rank))
            if len(ranked) >= wanted:
                break
        ranked.sort(key=lambda item: -item[1])  # the chunks found, ranked by their BM25 score
        return ranked[:limit]

    def _selective_terms(self, conn: apsw.Connection, query: str, generation: int) -> list[str]:
        """The question's terms, double-quoted for FTS5, rarest first, without terms found in more than
        half of all chunks.

        FTS5's BM25 clamps the IDF of such terms to ~0, so they change no score; they only add their
        (long) posting lists to the OR, which dominated query time. Terms absent from the index are
        dropped too. If every term is that common, the rarest one is kept.
        """
        terms = query_terms(query)
        if not self._has_vocab:  # a read-only index from an older version: no frequencies to use
            return [_quote(t) for t in terms[:MAX_SCORED_TERMS]]
        with self._vectors_lock:
            if self._df_generation != generation:
                self._document_frequency = {}
                self._chunk_total = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
                self._df_generation = generation
            known = dict(self._document_frequency)
            total = self._chunk_total
        tokenizer = self._stemmer(conn)
        frequencies: list[tuple[str, int]] = []
        for term in terms:
            stems = tokenizer(
                term.encode(), apsw.FTS5_TOKENIZE_QUERY, None, include_offsets=False, include_colocated=False
            )
            if not stems:
                continue
            stem = str(stems[0])
            df = known.get(stem)
            if df is None:
                row = conn.execute("SELECT doc FROM chunks_vocab WHERE term = ?", (stem,)).fetchone()
                df = known[stem] = row[0] if row else 0
                self._document_frequency[stem] = df
            if df:
                frequencies.append((term, df))
        if not frequencies:
            return []
        selective = sorted((item for item in frequencies if item[1] <= total / 2), key=lambda item: item[1])
        if not selective:
            selective = [min(frequencies, key=lambda item: item[1])]
        return [_quote(term) for term, _ in selective[:MAX_SCORED_TERMS]]

    def _vector_candidates(
        self, conn: apsw.Connection, query: str, scope: dict[str, object], limit: int, generation: int
    ) -> list[tuple[int, float]]:
        if not query.strip():
            return []
        vector = self._embed_query(query)
        cached = self._tenant_vectors(conn, str(scope["tenant"]), generation)
        if cached is None:
            rows = conn.execute(_VECTOR_SQL, {**scope, "vector": vector, "limit": limit}).fetchall()
            return [(rowid, 1.0 - distance) for rowid, distance in rows]
        if not len(cached.rowids):
            return []
        similarity = cached.matrix @ np.frombuffer(vector, dtype=np.float32)
        # Over-fetch when the tenant has ACL'd chunks, since the visibility check below may drop some.
        k = min(len(similarity), limit * 4 if cached.has_acl else limit)
        top = np.argpartition(-similarity, k - 1)[:k]
        top = top[np.argsort(-similarity[top])]
        ranked = [(int(cached.rowids[i]), float(similarity[i])) for i in top]
        visible = {
            row[0]
            for row in conn.execute(
                _VISIBLE_ROWIDS_SQL, {**scope, "rowids": json.dumps([r for r, _ in ranked])}
            ).fetchall()
        }
        return [(rowid, score) for rowid, score in ranked if rowid in visible][:limit]

    def _tenant_vectors(self, conn: apsw.Connection, tenant: str, generation: int) -> _TenantVectors | None:
        """The tenant's vector matrix, reloaded when any writer (this process or another) bumped the
        index generation; None when the tenant is too large to hold in memory."""
        cached = self._vectors.get(tenant)
        if cached is not None and cached.generation == generation:
            return cached
        with self._vectors_lock:
            cached = self._vectors.get(tenant)
            if cached is not None and cached.generation == generation:
                return cached
            count, acl = conn.execute(
                "SELECT COUNT(*), COALESCE(MAX(has_acl), 0) FROM chunks WHERE tenant = ?", (tenant,)
            ).fetchone()
            if count > self.vector_cache_rows:
                return None
            with conn:  # one read transaction: rows and generation from the same snapshot
                generation = int(conn.execute(_GENERATION_SQL).fetchone()[0])
                rows = conn.execute(
                    "SELECT rowid, embedding FROM chunks_vec WHERE tenant = ?", (tenant,)
                ).fetchall()
            rowids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(
                len(rows), self.embedder.dim
            )
            cached = _TenantVectors(generation, rowids, matrix, bool(acl))
            self._vectors[tenant] = cached
            return cached

    def _embed_one(self, text: str) -> bytes:
        return self.embedder.embed([text])[0].astype(np.float32).tobytes()

    @staticmethod
    def _hits(conn: apsw.Connection, ranked: list[tuple[int, float]], tenant: str) -> list[Hit]:
        if not ranked:
            return []
        rows = conn.execute(
            "SELECT c.rowid, c.tenant, c.source, c.chunk, c.title, c.content "
            "FROM json_each(?) AS j CROSS JOIN chunks c ON c.rowid = j.value WHERE c.tenant = ?",
            (json.dumps([r for r, _ in ranked]), tenant),
        ).fetchall()
        by_rowid = {row[0]: row for row in rows}
        hits = []
        for rowid, score in ranked:
            row = by_rowid.get(rowid)
            if row is None:  # deleted between the two reads: skip rather than fail the turn
                continue
            _, row_tenant, source, chunk, title, content = row
            cited = citation_id(source, chunk)
            hits.append(Hit(cited, source, chunk, title, content, float(score), row_tenant))
        return hits

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    # --- write side (ingestion) --------------------------------------------------------------------

    def source_hash(self, tenant: str, source: str) -> str | None:
        """The content hash recorded when the source was last ingested (None if never)."""
        row = self._writer.execute(
            "SELECT content_hash FROM sources WHERE tenant = ? AND source = ?", (tenant, source)
        ).fetchone()
        return row[0] if row else None

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
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        if vectors.size and vectors.shape[1] != self.embedder.dim:
            raise ValueError(f"vectors have dim {vectors.shape[1]}, the index needs {self.embedder.dim}")
        acl = [("oid", v) for v in dict.fromkeys(acl_oids)] + [
            ("group", v) for v in dict.fromkeys(acl_groups)
        ]
        conn = self._writer
        with conn:
            self._delete_source(conn, tenant, source)
            for record, vector in zip(chunks, vectors, strict=True):
                conn.execute(
                    "INSERT INTO chunks(tenant, source, chunk, title, content, has_acl) VALUES (?,?,?,?,?,?)",
                    (tenant, source, record.chunk, record.title, record.content, int(bool(acl))),
                )
                rowid = conn.last_insert_rowid()
                conn.execute(
                    "INSERT INTO chunks_fts(rowid, title, content) VALUES (?,?,?)",
                    (rowid, record.title, record.content),
                )
                conn.execute(
                    "INSERT INTO chunks_vec(rowid, embedding, tenant) VALUES (?,?,?)",
                    (rowid, np.asarray(vector, dtype=np.float32).tobytes(), tenant),
                )
                if acl:
                    conn.executemany(
                        "INSERT INTO chunk_acl(chunk_rowid, kind, value) VALUES (?,?,?)",
                        [(rowid, kind, value) for kind, value in acl],
                    )
            conn.execute(
                "INSERT INTO sources(tenant, source, content_hash, chunks, ingested_at) VALUES (?,?,?,?,?)",
                (tenant, source, content_hash, len(chunks), time.time()),
            )

    def delete_source(self, tenant: str, source: str) -> int:
        """Removes a source's chunks; returns how many there were."""
        with self._writer:
            return self._delete_source(self._writer, tenant, source)

    @staticmethod
    def _delete_source(conn: apsw.Connection, tenant: str, source: str) -> int:
        rowids = [
            r[0]
            for r in conn.execute(
                "SELECT rowid FROM chunks WHERE tenant = ? AND source = ?", (tenant, source)
            ).fetchall()
        ]
        if rowids:
            ids = json.dumps(rowids)
            conn.execute(
                "INSERT INTO chunks_fts(chunks_fts, rowid, title, content) "
                "SELECT 'delete', rowid, title, content FROM chunks "
                "WHERE rowid IN (SELECT value FROM json_each(?))",
                (ids,),
            )
            conn.execute("DELETE FROM chunks_vec WHERE rowid IN (SELECT value FROM json_each(?))", (ids,))
            conn.execute("DELETE FROM chunks WHERE rowid IN (SELECT value FROM json_each(?))", (ids,))
        conn.execute("DELETE FROM sources WHERE tenant = ? AND source = ?", (tenant, source))
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
        return len(rowids)

    def sources(self, tenant: str) -> list[str]:
        """Names of the tenant's ingested sources (for `chatfleet ingest --prune`)."""
        rows = self._writer.execute("SELECT source FROM sources WHERE tenant = ? ORDER BY source", (tenant,))
        return [row[0] for row in rows.fetchall()]

    def counts(self) -> dict[str, int]:
        """Chunks per tenant (for `chatfleet ingest` output and readiness logs)."""
        return dict(self._writer.execute("SELECT tenant, COUNT(*) FROM chunks GROUP BY tenant").fetchall())
