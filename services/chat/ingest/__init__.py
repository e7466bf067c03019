"""Ingestion: files -> chunks with overlap -> vectors -> the local index and/or Azure AI Search."""

from chatfleet.chat.ingest.chunking import Chunk, chunk_markdown, chunk_text
from chatfleet.chat.ingest.pipeline import IngestReport, ingest_paths
from chatfleet.chat.ingest.screening import DEFAULT_POLICY, FlaggedPassage, PassageScreen, ScreenPolicy

__all__ = [
    "DEFAULT_POLICY",
    "Chunk",
    "FlaggedPassage",
    "IngestReport",
    "PassageScreen",
    "ScreenPolicy",
    "chunk_markdown",
    "chunk_text",
    "ingest_paths",
]
