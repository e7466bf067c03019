"""Each tenant's vectors held in memory as one matrix, so a query is ranked with one numpy matrix-vector
product instead of a sqlite-vec scan. An entry is valid for one index generation: any writer (this process
or another) bumps the generation, and the next query reloads the tenant."""

import threading
from dataclasses import dataclass

import apsw
import numpy as np

from chatfleet.chat.retrieval.local_index.schema import GENERATION_SQL

# Tenants up to this many chunks keep their vectors in memory (dim x 4 bytes each: 10 MB per 10,000 at
# 256 dims) and are ranked with one numpy matrix-vector product; larger ones are ranked by sqlite-vec.
DEFAULT_VECTOR_CACHE_ROWS = 250_000


@dataclass(frozen=True)
class TenantVectors:
    """One tenant's vectors as a matrix, valid for one index generation."""

    generation: int
    rowids: np.ndarray
    matrix: np.ndarray
    has_acl: bool


class VectorCache:
    def __init__(self, dim: int, max_rows: int = DEFAULT_VECTOR_CACHE_ROWS) -> None:
        self.dim = dim
        self.max_rows = max_rows
        self._tenants: dict[str, TenantVectors] = {}
        self._lock = threading.Lock()

    def tenant_vectors(self, conn: apsw.Connection, tenant: str, generation: int) -> TenantVectors | None:
        """The tenant's vector matrix, reloaded when any writer (this process or another) bumped the
        index generation; None when the tenant is too large to hold in memory."""
        cached = self._tenants.get(tenant)
        if cached is not None and cached.generation == generation:
            return cached
        with self._lock:
            cached = self._tenants.get(tenant)
            if cached is not None and cached.generation == generation:
                return cached
            count, acl = conn.execute(
                "SELECT COUNT(*), COALESCE(MAX(has_acl), 0) FROM chunks WHERE tenant = ?", (tenant,)
            ).fetchone()
            if count > self.max_rows:
                return None
            with conn:  # one read transaction: rows and generation from the same snapshot
                generation = int(conn.execute(GENERATION_SQL).fetchone()[0])
                rows = conn.execute(
                    "SELECT rowid, embedding FROM chunks_vec WHERE tenant = ?", (tenant,)
                ).fetchall()
            rowids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(
                len(rows), self.dim
            )
            cached = TenantVectors(generation, rowids, matrix, bool(acl))
            self._tenants[tenant] = cached
            return cached

    def clear(self) -> None:
        with self._lock:
            self._tenants.clear()
