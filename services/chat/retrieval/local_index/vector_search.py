"""Vector candidates: the question's embedding ranked against the tenant's vectors, in memory when the
tenant fits the vector cache, by sqlite-vec's KNN over the tenant's partition otherwise."""

import json
from functools import lru_cache
from typing import cast

import apsw
import numpy as np

from chatfleet.chat.embeddings import Embedder
from chatfleet.chat.retrieval.local_index.schema import VISIBLE_TO_CALLER
from chatfleet.chat.retrieval.local_index.vector_cache import VectorCache

_VECTOR_SQL = f"""
WITH knn AS (
    SELECT rowid, distance FROM chunks_vec
    WHERE embedding MATCH :vector AND k = :limit AND tenant = :tenant
)
SELECT c.rowid, knn.distance FROM knn CROSS JOIN chunks c ON c.rowid = knn.rowid
WHERE {VISIBLE_TO_CALLER}
ORDER BY knn.distance
"""  # noqa: S608 (module constants composed; values are bound)
_VISIBLE_ROWIDS_SQL = f"""
SELECT c.rowid FROM json_each(:rowids) AS j CROSS JOIN chunks c ON c.rowid = j.value
WHERE {VISIBLE_TO_CALLER}
"""  # noqa: S608 (module constants composed; values are bound)


class VectorSearch:
    """Embeds questions (an LRU of 2,048, so a repeated question is not embedded again) and ranks chunks."""

    def __init__(self, embedder: Embedder, cache: VectorCache) -> None:
        self.embedder = embedder
        self.cache = cache
        self._embed_query = lru_cache(maxsize=2048)(self._embed_one)

    def candidates(
        self, conn: apsw.Connection, query: str, scope: dict[str, object], limit: int, generation: int
    ) -> list[tuple[int, float]]:
        if not query.strip():
            return []
        vector = self._embed_query(query)
        cached = self.cache.tenant_vectors(conn, str(scope["tenant"]), generation)
        if cached is None:
            rows = conn.execute(_VECTOR_SQL, {**scope, "vector": vector, "limit": limit}).fetchall()
            # cast: apsw types a row as any SQLite values; the query selects a rowid and a distance
            return [(rowid, 1.0 - distance) for rowid, distance in cast(list[tuple[int, float]], rows)]
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

    def _embed_one(self, text: str) -> bytes:
        return self.embedder.embed([text])[0].astype(np.float32).tobytes()
