"""Picks the retrieval backend from settings: the only place that knows both implementations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from chatfleet.chat.retrieval.base import Retriever

DEFAULT_EMBEDDER = "wordllama"


def build_retriever(settings: Any) -> Retriever:
    """Local index (default) or Azure AI Search; fails fast with the setting to fix when one is missing.

    `settings` is the service's Settings or any object with its search fields: retrieval sits below the
    settings module (which imports the llm pool's model), so it reads them without importing it."""
    from chatfleet.chat.embeddings import load_embedder

    embedder_name = getattr(settings, "embedder", DEFAULT_EMBEDDER)
    if settings.search_backend == "azure":
        from chatfleet.chat.retrieval.azure_search import AzureSearchRetriever

        if not settings.search_endpoint or not settings.search_index:
            raise ValueError(
                "search_backend=azure needs CHATFLEET_SEARCH_ENDPOINT and CHATFLEET_SEARCH_INDEX"
            )
        key = settings.search_api_key.get_secret_value() if settings.search_api_key else None
        query_vectors = getattr(settings, "search_query_vectors", "local")
        return AzureSearchRetriever(
            settings.search_endpoint,
            settings.search_index,
            api_key=key,
            embedder=load_embedder(embedder_name) if query_vectors == "local" else None,
            semantic_configuration=getattr(settings, "search_semantic_configuration", "default"),
            content_version=getattr(settings, "search_index_version", ""),
        )
    from chatfleet.chat.retrieval.local_index import LocalIndex

    if settings.index_path is None:
        raise ValueError(
            "search_backend=local needs CHATFLEET_INDEX_PATH (build one with `chatfleet ingest`)"
        )
    path = Path(settings.index_path)
    if not path.is_file():
        raise ValueError(
            f"local index {path} does not exist; build it with `chatfleet ingest PATH --index {path}`"
        )
    # A file the service may not write (image layer, read-only mount) is opened as immutable.
    writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    return LocalIndex(path, load_embedder(embedder_name), read_only=not writable)
