"""Retrieval behind one interface: the local SQLite index or Azure AI Search, always tenant-filtered."""

from chatfleet.chat.retrieval.base import Hit, Principal, RetrievalMode, Retriever
from chatfleet.chat.retrieval.factory import build_retriever
from chatfleet.chat.retrieval.local_index import ChunkRecord, IndexMismatch, LocalIndex

__all__ = [
    "ChunkRecord",
    "Hit",
    "IndexMismatch",
    "LocalIndex",
    "Principal",
    "RetrievalMode",
    "Retriever",
    "build_retriever",
]
