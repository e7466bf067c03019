"""Splits documents into retrieval-sized chunks: by headings first, then sentences, with overlap.

Sizes are in approximate tokens (`CHARS_PER_TOKEN` characters each, chatfleet.contracts.tokens), ~400 per
chunk with ~15% carried over from the previous chunk, so a fact that straddles a boundary is still whole in
one chunk. Each chunk's title is its heading path ("Doc > Section"), which
both BM25 (title weighted x2) and the citation UI use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chatfleet.contracts.tokens import CHARS_PER_TOKEN

DEFAULT_MAX_TOKENS = 400
DEFAULT_OVERLAP = 0.15
CHUNKER_VERSION = "1"  # part of the content hash: changing the chunker re-ingests everything

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
# A sentence ends at . ! ? followed by space and an upper-case letter/digit/quote, or at a blank line.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[A-Z0-9])|\n\s*\n")


@dataclass(frozen=True)
class Chunk:
    title: str
    content: str


def _sections(markdown: str, doc_title: str) -> list[tuple[str, str]]:
    """(heading path, body) per heading; code fences are kept whole and never read as headings."""
    sections: list[tuple[str, str]] = []
    path: list[tuple[int, str]] = []
    body: list[str] = []
    in_fence = False

    def flush() -> None:
        text = "\n".join(body).strip()
        if text:
            title = " > ".join([doc_title] + [h for _, h in path if h != doc_title])
            sections.append((title, text))
        body.clear()

    for line in markdown.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING.match(line)
        if heading:
            flush()
            level, text = len(heading.group(1)), heading.group(2).strip()
            path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, text)]
        else:
            body.append(line)
    flush()
    return sections


def _units(text: str, max_chars: int) -> list[str]:
    """Sentences (lists and code blocks stay with their paragraph); over-long ones split at words."""
    units: list[str] = []
    for piece in _SENTENCE_END.split(text):
        piece = piece.strip()
        if not piece:
            continue
        while len(piece) > max_chars:
            cut = piece.rfind(" ", 0, max_chars)
            cut = cut if cut > max_chars // 2 else max_chars
            units.append(piece[:cut].strip())
            piece = piece[cut:].strip()
        if piece:
            units.append(piece)
    return units


def _pack(units: list[str], max_chars: int, overlap_chars: int) -> list[str]:
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for unit in units:
        if current and size + len(unit) + 1 > max_chars:
            chunks.append(" ".join(current))
            carried: list[str] = []
            carried_size = 0
            # The tail of this chunk opens the next one: whole sentences until the overlap is reached
            # (one sentence may overshoot it, but the carry never exceeds half a chunk).
            for previous in reversed(current):
                if carried_size >= overlap_chars or carried_size + len(previous) > max_chars // 2:
                    break
                carried.insert(0, previous)
                carried_size += len(previous) + 1
            while carried and carried_size + len(unit) + 1 > max_chars:
                carried_size -= len(carried.pop(0)) + 1
            current, size = carried, carried_size
        current.append(unit)
        size += len(unit) + 1
    if current:
        chunks.append(" ".join(current))
    return chunks


def chunk_text(
    text: str, title: str, *, max_tokens: int = DEFAULT_MAX_TOKENS, overlap: float = DEFAULT_OVERLAP
) -> list[Chunk]:
    """Plain text (and PDF pages): sentence packing only."""
    if not 0 <= overlap < 0.5:
        raise ValueError("overlap must be in [0, 0.5)")
    max_chars = max_tokens * CHARS_PER_TOKEN
    packed = _pack(_units(text, max_chars), max_chars, int(max_chars * overlap))
    return [Chunk(title, body) for body in packed]


def chunk_markdown(
    markdown: str,
    fallback_title: str,
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    overlap: float = DEFAULT_OVERLAP,
) -> list[Chunk]:
    """Sections never share a chunk, so a chunk's title is true for all of its text."""
    first = next((m for line in markdown.splitlines() if (m := _HEADING.match(line))), None)
    doc_title = first.group(2).strip() if first and len(first.group(1)) == 1 else fallback_title
    chunks: list[Chunk] = []
    for title, body in _sections(markdown, doc_title):
        chunks += chunk_text(body, title, max_tokens=max_tokens, overlap=overlap)
    return chunks
