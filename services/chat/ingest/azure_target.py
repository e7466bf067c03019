"""Pushes ingested chunks to Azure AI Search, creating the index (schema below) when it is missing.

The schema matches what AzureSearchRetriever queries: `tenant` and the ACL collections are filterable,
`content`/`title` searchable, `embedding` a vector field (HNSW, cosine) of the embedder's dimension, and
a semantic configuration named "default". A changed source is replaced without a gap: the new chunks
are uploaded first (same keys overwrite), then chunks beyond the new count are deleted.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from azure.core.credentials import AzureKeyCredential, TokenCredential
from azure.core.exceptions import ResourceNotFoundError
from azure.search.documents import SearchClient
from azure.search.documents.indexes import SearchIndexClient
from azure.search.documents.indexes.models import (
    HnswAlgorithmConfiguration,
    SearchableField,
    SearchField,
    SearchIndex,
    SemanticConfiguration,
    SemanticField,
    SemanticPrioritizedFields,
    SemanticSearch,
    SimpleField,
    VectorSearch,
    VectorSearchProfile,
)

from chatfleet.chat.retrieval.local_index import ChunkRecord
from chatfleet.chat.retrieval.odata_filter import odata_literal

VECTOR_PROFILE = "chatfleet-hnsw"
SEMANTIC_CONFIGURATION = "default"
UPLOAD_BATCH = 100


def document_key(tenant: str, source: str, chunk: int) -> str:
    """Keys allow only letters, digits, -, _ and =: URL-safe base64 of the (tenant, source, chunk) triple."""
    raw = f"{tenant}\x1f{source}\x1f{chunk}".encode()
    return "k" + base64.urlsafe_b64encode(raw).decode()


# The EDM type names the service receives. SearchFieldDataType's camel-case members (String, Collection)
# are untyped aliases since azure-search-documents 12, and its upper-case ones do not exist in 11.5.
STRING, INT32 = "Edm.String", "Edm.Int32"
STRINGS, VECTOR = "Collection(Edm.String)", "Collection(Edm.Single)"


def index_schema(name: str, dim: int) -> SearchIndex:
    return SearchIndex(
        name=name,
        fields=[
            SimpleField(name="id", type=STRING, key=True),
            SimpleField(name="tenant", type=STRING, filterable=True),
            SimpleField(name="source", type=STRING, filterable=True),
            SimpleField(name="chunk", type=INT32, filterable=True, sortable=True),
            SimpleField(name="content_hash", type=STRING),
            SearchableField(name="title", type=STRING),
            SearchableField(name="content", type=STRING),
            SimpleField(name="acl_oids", type=STRINGS, filterable=True),
            SimpleField(name="acl_groups", type=STRINGS, filterable=True),
            SearchField(
                name="embedding",
                type=VECTOR,
                searchable=True,
                vector_search_dimensions=dim,
                vector_search_profile_name=VECTOR_PROFILE,
            ),
        ],
        vector_search=VectorSearch(
            algorithms=[HnswAlgorithmConfiguration(name="hnsw")],
            profiles=[VectorSearchProfile(name=VECTOR_PROFILE, algorithm_configuration_name="hnsw")],
        ),
        semantic_search=SemanticSearch(
            configurations=[
                SemanticConfiguration(
                    name=SEMANTIC_CONFIGURATION,
                    prioritized_fields=SemanticPrioritizedFields(
                        title_field=SemanticField(field_name="title"),
                        content_fields=[SemanticField(field_name="content")],
                    ),
                )
            ]
        ),
    )


def documents(
    tenant: str,
    source: str,
    content_hash: str,
    chunks: Sequence[ChunkRecord],
    vectors: np.ndarray,
    acl_oids: Sequence[str],
    acl_groups: Sequence[str],
) -> list[dict[str, Any]]:
    return [
        {
            "id": document_key(tenant, source, record.chunk),
            "tenant": tenant,
            "source": source,
            "chunk": record.chunk,
            "content_hash": content_hash,
            "title": record.title,
            "content": record.content,
            "acl_oids": list(acl_oids),
            "acl_groups": list(acl_groups),
            "embedding": [float(x) for x in vector],
        }
        for record, vector in zip(chunks, vectors, strict=True)
    ]


class AzureSearchTarget:
    """IngestTarget for Azure AI Search (sync clients: the CLI is a batch job)."""

    def __init__(
        self,
        endpoint: str,
        index: str,
        *,
        dim: int,
        api_key: str | None = None,
        credential: TokenCredential | None = None,
    ) -> None:
        cred: AzureKeyCredential | TokenCredential
        if api_key:
            cred = AzureKeyCredential(api_key)
        elif credential is not None:
            cred = credential
        else:
            from azure.identity import DefaultAzureCredential

            cred = DefaultAzureCredential()
        self._index_client = SearchIndexClient(endpoint, cred)
        self._client = SearchClient(endpoint, index, cred)
        self._index = index
        self._dim = dim

    def exists(self) -> bool:
        try:
            self._index_client.get_index(self._index)
            return True
        except ResourceNotFoundError:
            return False

    def ensure_index(self) -> bool:
        """Creates the index when missing; returns True if it was created."""
        if self.exists():
            return False
        self._index_client.create_index(index_schema(self._index, self._dim))
        return True

    def _source_filter(self, tenant: str, source: str) -> str:
        return f"tenant eq {odata_literal(tenant)} and source eq {odata_literal(source)}"

    def sources(self, tenant: str) -> list[str]:
        results = self._client.search(
            search_text="*",
            filter=f"tenant eq {odata_literal(tenant)}",
            facets=["source,count:100000"],
            top=0,
        )
        return sorted(str(f["value"]) for f in (results.get_facets() or {}).get("source", []))

    def delete_source(self, tenant: str, source: str) -> int:
        old = self._client.search(
            search_text="*", filter=self._source_filter(tenant, source), select=["id"], top=100_000
        )
        keys = [{"id": d["id"]} for d in old]
        for start in range(0, len(keys), UPLOAD_BATCH):
            self._client.delete_documents(keys[start : start + UPLOAD_BATCH])
        return len(keys)

    def source_hash(self, tenant: str, source: str) -> str | None:
        results = self._client.search(
            search_text="*", filter=self._source_filter(tenant, source), select=["content_hash"], top=1
        )
        for doc in results:
            return str(doc["content_hash"])
        return None

    def replace_source(
        self,
        tenant: str,
        source: str,
        content_hash: str,
        chunks: Sequence[ChunkRecord],
        vectors: np.ndarray,
        *,
        acl_oids: Iterable[str] = (),
        acl_groups: Iterable[str] = (),
    ) -> None:
        docs = documents(tenant, source, content_hash, chunks, vectors, list(acl_oids), list(acl_groups))
        for start in range(0, len(docs), UPLOAD_BATCH):
            self._client.merge_or_upload_documents(docs[start : start + UPLOAD_BATCH])
        keep = {d["id"] for d in docs}
        old = self._client.search(
            search_text="*", filter=self._source_filter(tenant, source), select=["id"], top=100_000
        )
        stale = [{"id": d["id"]} for d in old if d["id"] not in keep]
        for start in range(0, len(stale), UPLOAD_BATCH):
            self._client.delete_documents(stale[start : start + UPLOAD_BATCH])

    def close(self) -> None:
        self._client.close()
        self._index_client.close()
