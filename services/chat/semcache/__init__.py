"""The semantic cache: an answer reused for a close enough standalone question, behind `CacheStore`: in the
process's memory (`MemoryCacheStore`) or shared by the replicas in PostgreSQL (`PostgresCacheStore`)."""

from chatfleet.chat.semcache.cache import CacheHit, CacheSlot, SemanticCache, standalone
from chatfleet.chat.semcache.memory_store import MemoryCacheStore
from chatfleet.chat.semcache.postgres_store import PostgresCacheStore
from chatfleet.chat.semcache.store import CachedAnswer, CacheStore

__all__ = [
    "CacheHit",
    "CacheSlot",
    "CacheStore",
    "CachedAnswer",
    "MemoryCacheStore",
    "PostgresCacheStore",
    "SemanticCache",
    "standalone",
]
