"""The matching rules of the semantic cache: when an answer may be reused, and when one is kept.

A cached answer is served for a new question only if all of these hold, each checked here on every lookup
(nothing about the entry is trusted beyond what it was stored with):
- the question is standalone (the conversation's first message: a follow-up depends on its history);
- same scope: the tenant, the prompt versions, the index version and the answer options are the entry's;
- the entry is younger than the TTL;
- cosine similarity of the two questions' embeddings (case and spacing folded), by the embedder retrieval
  uses, is at least the threshold;
- the caller may read every source the entry shows, asked of the index now with the caller's identity.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from chatfleet.chat.embeddings import Embedder
from chatfleet.chat.protocol import Citation
from chatfleet.chat.retrieval import Principal, Retriever
from chatfleet.chat.semcache.store import CachedAnswer, CacheStore

Outcome = Literal["hit", "miss", "denied"]


def standalone(messages: Sequence[tuple[str, str]]) -> bool:
    """Only a conversation's first question may be answered from the cache: with history, the same words
    can ask something else (\u201cand for Linux?\u201d)."""
    return len(messages) == 1 and messages[0][0] == "user"


@dataclass(frozen=True)
class CacheSlot:
    """A standalone question's place in the cache: where its answer would be kept after a miss."""

    scope: str
    tenant: str
    vector: np.ndarray


@dataclass(frozen=True)
class CacheHit:
    entry: CachedAnswer
    similarity: float
    age_s: float


@dataclass(frozen=True)
class Lookup:
    slot: CacheSlot
    outcome: Outcome
    hit: CacheHit | None = None


class SemanticCache:
    """One per process; the store decides where entries live (`semcache.store`)."""

    def __init__(
        self,
        store: CacheStore,
        embedder: Embedder,
        retriever: Retriever,
        *,
        threshold: float,
        ttl_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 < threshold <= 1:
            raise ValueError("the similarity threshold must be in (0, 1]")
        self.store = store
        self.embedder = embedder
        self.retriever = retriever
        self.threshold = threshold
        self.ttl_s = ttl_s
        self.clock = clock

    async def slot(
        self, question: str, tenant: str, prompt_versions: Mapping[str, str], options: Mapping[str, Any]
    ) -> CacheSlot:
        """The question's embedding and scope; the index version is read now, so an ingestion since the
        entry was kept moves the question to another scope."""
        index_version = await self.retriever.index_version()
        vector = (await asyncio.to_thread(self.embedder.embed, [comparable(question)]))[0]
        return CacheSlot(scope(tenant, prompt_versions, index_version, options), tenant, vector)

    async def lookup(self, slot: CacheSlot, principal: Principal) -> Lookup:
        """The entry to serve, if any; `denied` when the nearest entry is close enough but shows a source
        the caller may not read (then it is not served, and the fresh answer is not kept over it)."""
        if principal.tenant != slot.tenant:
            raise ValueError("a cache slot is looked up for its own tenant only")
        now = self.clock()
        found = await self.store.nearest(slot.scope, slot.vector, since=now - self.ttl_s)
        if found is None:
            return Lookup(slot, "miss")
        entry, similarity = found
        age_s = now - entry.created_at
        # The store's answer is checked again, not trusted: scope, tenant, age and closeness.
        if (
            entry.scope != slot.scope
            or entry.tenant != principal.tenant
            or age_s > self.ttl_s
            or similarity < self.threshold
        ):
            return Lookup(slot, "miss")
        visible = await self.retriever.visible(entry.chunks, principal)
        if not set(entry.chunks) <= visible:
            return Lookup(slot, "denied")
        return Lookup(slot, "hit", CacheHit(entry, similarity, age_s))

    async def remember(
        self,
        slot: CacheSlot,
        *,
        answer: str,
        citations: list[Citation],
        chunks: list[tuple[str, int]],
        cited: list[str],
        deployment: str | None,
        model: str | None,
        tokens: int,
    ) -> None:
        """Keeps a fresh answer; the chain calls this only for a grounded answer that ended normally."""
        await self.store.add(
            CachedAnswer(
                scope=slot.scope,
                tenant=slot.tenant,
                vector=slot.vector,
                answer=answer,
                citations=citations,
                chunks=chunks,
                cited=cited,
                deployment=deployment,
                model=model,
                tokens=tokens,
                created_at=self.clock(),
            )
        )

    async def aclose(self) -> None:
        await self.store.aclose()


def comparable(question: str) -> str:
    """The question as compared: case and spacing folded (a case-sensitive embedder such as WordLlama
    would otherwise put “vpn” and “VPN” far apart); the words stay as typed."""
    return " ".join(question.split()).casefold()


def scope(
    tenant: str, prompt_versions: Mapping[str, str], index_version: str, options: Mapping[str, Any]
) -> str:
    """One string for everything an answer depends on besides the question: equal scopes, reusable answers.
    Hashed, so a store keeps a fixed-size key whatever the tenant name or options hold."""
    key = {
        "tenant": tenant,
        "prompts": dict(sorted(prompt_versions.items())),
        "index": index_version,
        "options": options,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
