"""`MemoryCacheStore`: the cache in the process's memory, for a single replica (each replica keeps its own).

Entries are kept in insertion order; past `max_entries` the oldest go first (an old entry is also the one
nearest its TTL). Each scope's vectors are stacked into one matrix, rebuilt lazily after a change, so a
lookup is one matrix-vector product however many entries the scope has.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import replace

import numpy as np

from chatfleet.chat.semcache.store import CachedAnswer


class _Scope:
    def __init__(self) -> None:
        self.entries: OrderedDict[int, CachedAnswer] = OrderedDict()
        self.matrix: np.ndarray | None = None
        self.created = np.empty(0)
        self.rows: list[CachedAnswer] = []

    def stacked(self) -> tuple[np.ndarray, np.ndarray, list[CachedAnswer]]:
        """Vectors and creation times of the scope's entries as arrays, and the entries in that order."""
        if self.matrix is None:
            self.rows = list(self.entries.values())
            self.matrix = np.vstack([e.vector for e in self.rows])
            self.created = np.array([e.created_at for e in self.rows])
        return self.matrix, self.created, self.rows


class MemoryCacheStore:
    """Implements CacheStore in memory; all methods run on the event loop (no awaits inside), so the
    structures need no lock."""

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._order: OrderedDict[int, str] = OrderedDict()  # entry id -> scope, oldest first
        self._scopes: dict[str, _Scope] = {}
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self._order)

    async def nearest(
        self, scope: str, vector: np.ndarray, *, since: float
    ) -> tuple[CachedAnswer, float] | None:
        held = self._scopes.get(scope)
        if held is None:
            return None
        matrix, created, rows = held.stacked()
        similarity = matrix @ vector
        fresh = created >= since
        if not fresh.any():
            return None
        best = int(np.argmax(np.where(fresh, similarity, -np.inf)))
        return rows[best], float(similarity[best])

    async def add(self, entry: CachedAnswer) -> None:
        ident = next(self._ids)
        stored = replace(entry, id=ident)
        held = self._scopes.setdefault(entry.scope, _Scope())
        held.entries[ident] = stored
        held.matrix = None
        self._order[ident] = entry.scope
        while len(self._order) > self.max_entries:
            old, scope = self._order.popitem(last=False)
            oldest = self._scopes[scope]
            del oldest.entries[old]
            oldest.matrix = None
            if not oldest.entries:
                del self._scopes[scope]

    async def aclose(self) -> None:
        self._order.clear()
        self._scopes.clear()
