"""Azure AI Search as the retrieval backend: hybrid (BM25 + vectors, RRF) with the semantic ranker.

Authentication is azure-identity by default (workload identity in AKS, DefaultAzureCredential elsewhere);
an API key is only an explicit fallback and is never logged. The tenant/ACL filter is always applied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from azure.core.credentials import AzureKeyCredential
from azure.core.credentials_async import AsyncTokenCredential
from azure.search.documents.aio import SearchClient
from azure.search.documents.models import VectorizableTextQuery, VectorizedQuery

from chatfleet.chat.embeddings import Embedder
from chatfleet.chat.retrieval.base import Hit, Principal, RetrievalMode
from chatfleet.chat.retrieval.odata_filter import odata_literal, principal_filter
from chatfleet.contracts.citations import citation_id

SELECT_FIELDS = ["source", "chunk", "title", "content", "tenant"]
VECTOR_FIELD = "embedding"
RERANKER_MAX = 4.0  # the semantic ranker scores 0..4
KNN_CANDIDATES = 50  # as azure-search-openai-demo: more neighbours than `top`, fused by RRF


class AzureSearchRetriever:
    """Implements Retriever; `embedder` vectorises the query locally, else the index's vectorizer does."""

    def __init__(
        self,
        endpoint: str,
        index: str,
        *,
        credential: AsyncTokenCredential | None = None,
        api_key: str | None = None,
        embedder: Embedder | None = None,
        semantic_configuration: str = "default",
        client: SearchClient | None = None,
        content_version: str = "",
    ) -> None:
        """`content_version` labels the index's content (the service setting `search_index_version`):
        the service cannot see a re-ingestion of a remote index, so whoever re-ingests changes it."""
        self._owned_credential: AsyncTokenCredential | None = None
        if client is None:
            cred: AzureKeyCredential | AsyncTokenCredential
            if api_key:
                cred = AzureKeyCredential(api_key)
            elif credential is not None:
                cred = credential
            else:
                from azure.identity.aio import DefaultAzureCredential

                cred = self._owned_credential = DefaultAzureCredential()
            client = SearchClient(endpoint, index, cred)
        self._client = client
        self._embedder = embedder
        self._semantic_configuration = semantic_configuration
        self._index_version = f"azure:{endpoint.rstrip('/')}/{index}:{content_version}"
        self._closed = False

    def ready(self) -> bool:
        return not self._closed

    def vector_query(self, query: str) -> VectorizedQuery | VectorizableTextQuery:
        if self._embedder is None:
            return VectorizableTextQuery(text=query, k_nearest_neighbors=KNN_CANDIDATES, fields=VECTOR_FIELD)
        vector = self._embedder.embed([query])[0]
        return VectorizedQuery(
            vector=[float(x) for x in vector], k_nearest_neighbors=KNN_CANDIDATES, fields=VECTOR_FIELD
        )

    def search_arguments(
        self, query: str, principal: Principal, *, top: int, mode: RetrievalMode, semantic_ranker: bool
    ) -> dict[str, Any]:
        """The keyword arguments of SearchClient.search; separate so tests can check the filter is there."""
        args: dict[str, Any] = {
            "search_text": query if mode in ("hybrid", "text") else None,
            "filter": principal_filter(principal),
            "top": top,
            "select": SELECT_FIELDS,
        }
        if mode in ("hybrid", "vectors"):
            args["vector_queries"] = [self.vector_query(query)]
        if semantic_ranker and mode != "vectors":
            args["query_type"] = "semantic"
            args["semantic_configuration_name"] = self._semantic_configuration
        return args

    async def search(
        self,
        query: str,
        principal: Principal,
        *,
        top: int = 5,
        mode: RetrievalMode = "hybrid",
        semantic_ranker: bool = True,
        minimum_score: float = 0.0,
    ) -> list[Hit]:
        """Scores: the semantic reranker's (0-4) when it ran, else the search (RRF/BM25/cosine) score."""
        if self._closed:
            raise RuntimeError("the Azure AI Search retriever is closed")
        if mode in ("hybrid", "vectors") and self._embedder is not None:
            args = await asyncio.to_thread(
                self.search_arguments, query, principal, top=top, mode=mode, semantic_ranker=semantic_ranker
            )
        else:
            args = self.search_arguments(
                query, principal, top=top, mode=mode, semantic_ranker=semantic_ranker
            )
        results = await self._client.search(**args)
        hits: list[Hit] = []
        async for doc in results:
            score = float(doc.get("@search.score") or 0.0)
            if score < minimum_score:
                continue
            reranker = doc.get("@search.reranker_score")
            if doc.get("tenant") != principal.tenant:  # defence in depth: the filter already did this
                continue
            source, chunk = str(doc["source"]), int(doc["chunk"])
            hits.append(
                Hit(
                    id=citation_id(source, chunk),
                    source=source,
                    chunk=chunk,
                    title=str(doc.get("title") or source),
                    content=str(doc.get("content") or ""),
                    score=float(reranker) if reranker is not None else score,
                    tenant=principal.tenant,
                    relevance=float(reranker) / RERANKER_MAX if reranker is not None else None,
                )
            )
        return hits

    def visible_arguments(self, chunks: Sequence[tuple[str, int]], principal: Principal) -> dict[str, Any]:
        """SearchClient.search arguments that return exactly the listed chunks the principal may read: the
        same tenant and ACL filter as `search`, narrowed to the pairs."""
        wanted = " or ".join(
            f"(source eq {odata_literal(source)} and chunk eq {int(chunk)})" for source, chunk in chunks
        )
        return {
            "search_text": "*",
            "filter": f"{principal_filter(principal)} and ({wanted})",
            "top": len(chunks),
            "select": ["source", "chunk", "tenant"],
        }

    async def visible(self, chunks: Sequence[tuple[str, int]], principal: Principal) -> set[tuple[str, int]]:
        if self._closed:
            raise RuntimeError("the Azure AI Search retriever is closed")
        if not chunks:
            return set()
        results = await self._client.search(**self.visible_arguments(chunks, principal))
        found: set[tuple[str, int]] = set()
        async for doc in results:
            if doc.get("tenant") == principal.tenant:  # defence in depth, as in `search`
                found.add((str(doc["source"]), int(doc["chunk"])))
        return found

    async def index_version(self) -> str:
        return self._index_version

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._client.close()
        if self._owned_credential is not None:
            await self._owned_credential.close()
