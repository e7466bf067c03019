"""The local index: one SQLite file with FTS5 (BM25) and sqlite-vec vectors, fused like Azure hybrid search.

Why apsw: the stdlib `sqlite3` of the supported Pythons cannot load extensions, so it cannot load
sqlite-vec. Why a thread pool with one connection per thread: SQLite calls block, and a chat turn must
never stall the event loop that is streaming other users' answers. WAL mode lets ingestion write while
the service reads.

Tenant isolation is structural: the vector table is partitioned by tenant (a KNN query only ever scans
the caller's partition), every SQL query carries `tenant = :tenant` plus the ACL predicate, and both
come only from the verified Principal.

Modules: `schema` (tables, what an index was built with), `connections` (apsw with sqlite-vec, one reader
per thread), `text_search` (BM25 candidates), `vector_cache` and `vector_search` (vector candidates),
`writes` (what ingestion changes), `index` (`LocalIndex`, which puts them together).
"""

from chatfleet.chat.retrieval.local_index.index import LocalIndex
from chatfleet.chat.retrieval.local_index.schema import IndexMismatch
from chatfleet.chat.retrieval.local_index.writes import ChunkRecord

__all__ = ["ChunkRecord", "IndexMismatch", "LocalIndex"]
