"""The write side used by `chatfleet ingest`: a source's chunks, vectors and ACL are swapped in one
transaction, so readers see the old or the new set, never half; every write bumps the index generation."""

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

import apsw
import numpy as np


@dataclass(frozen=True)
class ChunkRecord:
    """One chunk as ingestion writes it; its citation id is chatfleet.contracts.citations.citation_id(source,
    chunk)."""

    chunk: int
    title: str
    content: str


def source_hash(conn: apsw.Connection, tenant: str, source: str) -> str | None:
    row = conn.execute(
        "SELECT content_hash FROM sources WHERE tenant = ? AND source = ?", (tenant, source)
    ).fetchone()
    return row[0] if row else None


def replace_source(
    conn: apsw.Connection,
    dim: int,
    tenant: str,
    source: str,
    content_hash: str,
    chunks: Sequence[ChunkRecord],
    vectors: np.ndarray,
    *,
    acl_oids: Iterable[str] = (),
    acl_groups: Iterable[str] = (),
) -> None:
    if len(chunks) != len(vectors):
        raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
    if vectors.size and vectors.shape[1] != dim:
        raise ValueError(f"vectors have dim {vectors.shape[1]}, the index needs {dim}")
    acl = [("oid", v) for v in dict.fromkeys(acl_oids)] + [("group", v) for v in dict.fromkeys(acl_groups)]
    with conn:
        delete_source(conn, tenant, source)
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


def delete_source(conn: apsw.Connection, tenant: str, source: str) -> int:
    """Deletes inside the caller's transaction; returns how many chunks there were."""
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


def sources(conn: apsw.Connection, tenant: str) -> list[str]:
    rows = conn.execute("SELECT source FROM sources WHERE tenant = ? ORDER BY source", (tenant,))
    return [row[0] for row in cast(list[tuple[str]], rows.fetchall())]  # cast: TEXT NOT NULL


def counts(conn: apsw.Connection) -> dict[str, int]:
    rows = conn.execute("SELECT tenant, COUNT(*) FROM chunks GROUP BY tenant").fetchall()
    return dict(cast(list[tuple[str, int]], rows))  # cast: apsw types a row as any SQLite values
