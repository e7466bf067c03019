"""The index file's tables, and the check that an existing file was built with the same embedder and schema.

The `generation` counter in `meta` is bumped by every write, so readers in any process can tell when
their cached vectors and document frequencies went stale.
"""

from pathlib import Path
from typing import cast

import apsw

from chatfleet.chat.embeddings import Embedder
from chatfleet.chat.retrieval.local_index.connections import first_row

SCHEMA_VERSION = "1"
GENERATION_SQL = "SELECT COALESCE((SELECT value FROM meta WHERE key = 'generation'), '0')"


def read_generation(conn: apsw.Connection) -> int:
    """The index generation, which every write bumps (caches reload when it moved)."""
    return int(first_row(conn.execute(GENERATION_SQL))[0])


def _meta(conn: apsw.Connection) -> dict[str, str]:
    # cast: apsw types a row as any SQLite values; both columns are TEXT NOT NULL
    return dict(cast(list[tuple[str, str]], conn.execute("SELECT key, value FROM meta").fetchall()))


class IndexMismatch(RuntimeError):
    """The index file was built with another embedder (vectors would be meaningless) or schema."""


def ensure_schema(conn: apsw.Connection, embedder: Embedder, path: Path, *, read_only: bool) -> None:
    """Creates the tables in a new file; checks an existing one and adds what older versions lacked."""
    if read_only:
        check_meta(_meta(conn), embedder, path)
        return
    with conn:
        conn.execute("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        meta = _meta(conn)
        if meta:  # an existing index: check it first, then add what older versions lacked
            check_meta(meta, embedder, path)
            conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('generation', '0')")
            conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vocab USING fts5vocab(chunks_fts, row)")
            return
        expected = {
            "schema": SCHEMA_VERSION,
            "embedder": embedder.name,
            "dim": str(embedder.dim),
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
            f"embedding float[{int(embedder.dim)}] distance_metric=cosine, "
            f"tenant text partition key)"
        )


def check_meta(meta: dict[str, str], embedder: Embedder, path: Path) -> None:
    expected = {"schema": SCHEMA_VERSION, "embedder": embedder.name, "dim": str(embedder.dim)}
    wrong = {k: (meta.get(k), v) for k, v in expected.items() if meta.get(k) != v}
    if wrong:
        found = ", ".join(f"{k}={a!r} (need {b!r})" for k, (a, b) in wrong.items())
        raise IndexMismatch(
            f"index {path} was built differently: {found}; re-ingest into a new file "
            "or choose the embedder it was built with (CHATFLEET_EMBEDDER)"
        )


def has_vocabulary(conn: apsw.Connection) -> bool:
    """Whether the file has the `chunks_vocab` table (a read-only index from an older version may not)."""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'chunks_vocab'").fetchone() is not None


# Who may read a chunk, written once for every query that returns chunks (the tenant filter is what keeps
# tenants apart): same tenant AND (no ACL on the chunk OR the caller's oid or one of its groups is listed).
# Queries alias `chunks` as `c` and bind :tenant, :oid and :groups (a JSON list).
VISIBLE_TO_CALLER = """
    c.tenant = :tenant AND (
        c.has_acl = 0 OR EXISTS (
            SELECT 1 FROM chunk_acl a WHERE a.chunk_rowid = c.rowid AND (
                (a.kind = 'oid' AND a.value = :oid)
                OR (a.kind = 'group' AND a.value IN (SELECT value FROM json_each(:groups)))
            )
        )
    )
"""
