"""Reads the file types ingestion understands into text: Markdown, plain text and PDF (pypdf)."""

from __future__ import annotations

from pathlib import Path

from chatfleet.chat.ingest.chunking import Chunk, chunk_markdown, chunk_text

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
TEXT_SUFFIXES = frozenset({".txt", ".text", ".rst"})
PDF_SUFFIXES = frozenset({".pdf"})
SUPPORTED_SUFFIXES = MARKDOWN_SUFFIXES | TEXT_SUFFIXES | PDF_SUFFIXES


class UnreadableDocument(ValueError):
    """The file exists but cannot be turned into text (encrypted or broken PDF, binary file)."""


def load_chunks(path: Path, data: bytes, *, max_tokens: int, overlap: float) -> list[Chunk]:
    suffix = path.suffix.lower()
    title = path.stem.replace("-", " ").replace("_", " ").strip() or path.name
    if suffix in PDF_SUFFIXES:
        return _pdf_chunks(path, data, title, max_tokens=max_tokens, overlap=overlap)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableDocument(f"{path}: not UTF-8 text") from exc
    if "\x00" in text:
        raise UnreadableDocument(f"{path}: looks binary (NUL bytes)")
    if suffix in MARKDOWN_SUFFIXES:
        return chunk_markdown(text, title, max_tokens=max_tokens, overlap=overlap)
    return chunk_text(text, title, max_tokens=max_tokens, overlap=overlap)


def _pdf_chunks(path: Path, data: bytes, title: str, *, max_tokens: int, overlap: float) -> list[Chunk]:
    """One title per page ("Title (page N)") so citations point at the right page."""
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise UnreadableDocument(f"{path}: encrypted PDF")
        meta_title = (reader.metadata.title if reader.metadata else None) or title
        chunks: list[Chunk] = []
        for number, page in enumerate(reader.pages, start=1):
            text = (page.extract_text() or "").strip()
            if text:
                chunks += chunk_text(
                    text, f"{meta_title} (page {number})", max_tokens=max_tokens, overlap=overlap
                )
    except PdfReadError as exc:
        raise UnreadableDocument(f"{path}: unreadable PDF ({exc})") from exc
    return chunks
