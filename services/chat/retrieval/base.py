"""The retrieval contract the chain codes against, and who is asking (the Principal)."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

RetrievalMode = Literal["hybrid", "text", "vectors"]
RRF_K = 60  # reciprocal rank fusion constant, as in Azure AI Search hybrid ranking


@dataclass(frozen=True)
class Principal:
    """The verified caller; built only by chatfleet.chat.auth from a validated token (never the body)."""

    tenant: str
    oid: str | None = None
    groups: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    name: str | None = None


@dataclass
class Hit:
    """One retrieved chunk; `id` is its citation (chatfleet.contracts.citations), what the answer cites."""

    id: str
    source: str
    chunk: int
    title: str
    content: str
    score: float
    tenant: str
    # How close the source is to the question, comparable across retrieval modes: the cosine similarity
    # of their embeddings, or the semantic ranker's score / 4. None when the search measured none (text
    # mode, Azure hybrid without the ranker): the minimum-relevance gate then does not judge the turn.
    relevance: float | None = None


class Retriever(Protocol):
    """Every search is filtered by principal.tenant and the chunk ACLs; no argument can widen that."""

    async def search(
        self,
        query: str,
        principal: Principal,
        *,
        top: int = 5,
        mode: RetrievalMode = "hybrid",
        semantic_ranker: bool = True,
        minimum_score: float = 0.0,
    ) -> list[Hit]: ...

    async def visible(self, chunks: Sequence[tuple[str, int]], principal: Principal) -> set[tuple[str, int]]:
        """Which of these (source, chunk) pairs the principal may read now, by the same tenant and ACL
        filter as `search`: what a cached answer's sources are re-checked with before it is served."""
        ...

    async def index_version(self) -> str:
        """What identifies the indexed content: it changes when the content may have (a cached answer of
        another version is not served)."""
        ...

    def ready(self) -> bool: ...

    async def aclose(self) -> None: ...


def reciprocal_rank_fusion(rankings: list[list[int]], k: int = RRF_K) -> dict[int, float]:
    """score(d) = sum over rankings of 1 / (k + rank(d)), rank starting at 1 (Azure's hybrid formula)."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
    return scores
