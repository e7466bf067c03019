"""Ingestion: files -> chunks with overlap -> vectors -> the local index and/or Azure AI Search."""

from chatfleet.chat.ingest.chunking import Chunk, chunk_markdown, chunk_text
from chatfleet.chat.ingest.pipeline import IngestReport, ingest_paths

__all__ = ["Chunk", "IngestReport", "chunk_markdown", "chunk_text", "ingest_paths"]
