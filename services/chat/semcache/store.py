"""The cache's storage contract: the in-process store (`memory_store`) and the one shared by the replicas
(`postgres_store`) implement the same three methods, and the matching rules in `semcache.cache` do not
change with the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from chatfleet.chat.protocol import Citation


@dataclass(frozen=True)
class CachedAnswer:
    """One answer as it was streamed, with what it may be reused for.

    `scope` names the tenant, prompt versions, index version and answer options together: an entry is only
    ever compared with questions of the same scope. `chunks` are the (source, chunk) pairs of every source
    the answer shows (its data points), re-checked against the caller's ACLs before each reuse."""

    scope: str
    tenant: str
    vector: np.ndarray
    answer: str
    citations: list[Citation]
    chunks: list[tuple[str, int]]
    cited: list[str]
    deployment: str | None
    model: str | None
    tokens: int
    created_at: float
    id: int = field(default=0, compare=False)


class CacheStore(Protocol):
    async def nearest(
        self, scope: str, vector: np.ndarray, *, since: float
    ) -> tuple[CachedAnswer, float] | None:
        """The entry of `scope` created at or after `since` whose vector is most similar to `vector` (unit
        vectors: cosine = dot product), with that similarity; None when the scope has none."""
        ...

    async def add(self, entry: CachedAnswer) -> None:
        """Keeps the entry, evicting the oldest ones past the store's size bound."""
        ...

    async def aclose(self) -> None: ...
