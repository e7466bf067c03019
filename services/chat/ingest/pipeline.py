"""The ingestion pipeline shared by `chatfleet ingest`, the sample index and the benchmark.

Each source is identified by (tenant, path relative to the argument it came from). A content hash over
the bytes, the chunker settings, the embedder and the ACLs decides: unchanged -> skipped; changed ->
its chunks are replaced atomically; new -> added. A file that cannot be read is reported and skipped
without touching what the index already has for it. With a `PassageScreen` every chunk is screened for
planted instructions before it is written (`ingest.screening`: flag, quarantine or refuse).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from chatfleet.chat.embeddings import Embedder
from chatfleet.chat.ingest.chunking import CHUNKER_VERSION, DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP
from chatfleet.chat.ingest.loaders import SUPPORTED_SUFFIXES, UnreadableDocument, load_chunks
from chatfleet.chat.ingest.screening import FlaggedPassage, PassageScreen
from chatfleet.chat.retrieval.local_index import ChunkRecord

log = logging.getLogger(__name__)
MAX_FILE_BYTES = 50 * 1024 * 1024


class IngestTarget(Protocol):
    """Where chunks go: the local index, or Azure AI Search (same two calls)."""

    def source_hash(self, tenant: str, source: str) -> str | None: ...

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
    ) -> None: ...

    def sources(self, tenant: str) -> list[str]: ...

    def delete_source(self, tenant: str, source: str) -> int: ...


class PruneWouldEmptyTenant(ValueError):
    """`prune` with no documents would delete every source the tenant has (an empty or wrong folder)."""


@dataclass
class IngestReport:
    """What a run did (with `dry_run`: would do); counts for the summary, names for the dry-run listing."""

    files: int = 0
    ingested: int = 0
    unchanged: int = 0
    skipped: int = 0  # files of a type ingestion does not read (an image next to the documents)
    pruned: int = 0
    chunks: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    failures: list[str] = field(default_factory=list)
    ingested_sources: list[str] = field(default_factory=list)
    pruned_sources: list[str] = field(default_factory=list)
    flagged: list[FlaggedPassage] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The run as a reviewer or a pipeline reads it: passages by id, rules and digest, not their text."""
        return {
            "files": self.files,
            "ingested": self.ingested,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "pruned": self.pruned,
            "chunks": self.chunks,
            "failures": self.failures,
            "refused": self.refused,
            "flagged": [f.as_json() for f in self.flagged],
        }

    @property
    def chunks_per_second(self) -> float:
        return self.chunks / self.seconds if self.seconds > 0 else 0.0


def discover(paths: Iterable[Path]) -> Iterator[tuple[Path, str]]:
    """(file, source name); folders are walked for supported files, names relative to the folder."""
    for file, name, supported in _walk(paths):
        if supported:
            yield file, name


def _walk(paths: Iterable[Path]) -> Iterator[tuple[Path, str, bool]]:
    """Every visible file under `paths` with its source name and whether ingestion reads its type."""
    for root in paths:
        if root.is_dir():
            for file in sorted(root.rglob("*")):
                name = file.relative_to(root).as_posix()
                # Hidden entries are skipped: a mounted ConfigMap keeps each file a second time under
                # `..<timestamp>/` (behind `..data`), which would index every document twice.
                hidden = any(part.startswith(".") for part in file.relative_to(root).parts)
                if file.is_file() and not hidden:
                    yield file, name, file.suffix.lower() in SUPPORTED_SUFFIXES
        elif root.is_file():
            yield root, root.name, True
        else:
            raise FileNotFoundError(f"{root}: no such file or folder")


def content_hash(
    data: bytes,
    *,
    embedder: str,
    max_tokens: int,
    overlap: float,
    acl: Sequence[str],
    screen: str | None = None,
) -> str:
    digest = hashlib.sha256()
    header = (
        f"chunker={CHUNKER_VERSION};embedder={embedder};max={max_tokens};overlap={overlap};acl={sorted(acl)}"
    )
    if screen is not None:  # a file indexed under another policy (or none) is screened again
        header += f";screen={screen}"
    digest.update(header.encode())
    digest.update(data)
    return digest.hexdigest()


def ingest_paths(
    paths: Iterable[Path],
    *,
    tenant: str,
    embedder: Embedder,
    targets: Sequence[IngestTarget],
    acl_oids: Sequence[str] = (),
    acl_groups: Sequence[str] = (),
    max_tokens: int = DEFAULT_MAX_TOKENS,
    overlap: float = DEFAULT_OVERLAP,
    force: bool = False,
    prune: bool = False,
    allow_empty: bool = False,
    dry_run: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    screen: PassageScreen | None = None,
) -> IngestReport:
    """Ingests every file under `paths` for `tenant` into all `targets`; with `prune`, the tenant's sources
    that are not among these files are deleted (documents removed from the folder disappear from answers).

    A prune that would leave the tenant with no documents at all raises PruneWouldEmptyTenant before
    anything changes, unless `allow_empty`: an empty or mistyped folder must not wipe a tenant silently.
    `dry_run` reads and chunks the files (so unreadable ones are reported) but embeds and writes nothing.
    `on_progress(done, total)` is called after each file. With `screen`, flagged chunks are listed in
    `report.flagged` and handled by its policy; a refused document is listed in `report.refused` and its
    sources are not pruned.
    """
    if not targets:
        raise ValueError("no ingestion target: give a local index and/or Azure AI Search")
    report = IngestReport(dry_run=dry_run)
    started = time.perf_counter()
    acl = [f"oid:{o}" for o in acl_oids] + [f"group:{g}" for g in acl_groups]
    walked = list(_walk(paths))
    files = [(file, source) for file, source, supported in walked if supported]
    report.skipped = len(walked) - len(files)
    seen = {source for _, source in files}
    if prune and not seen and not allow_empty:
        existing = {source for target in targets for source in target.sources(tenant)}
        if existing:
            raise PruneWouldEmptyTenant(
                f"--prune would delete all {len(existing)} documents of tenant {tenant}: no documents "
                "found in the given paths"
            )
    for done, (file, source) in enumerate(files, start=1):
        report.files += 1
        _ingest_file(
            file,
            source,
            report,
            tenant,
            embedder,
            targets,
            acl_oids,
            acl_groups,
            acl,
            max_tokens=max_tokens,
            overlap=overlap,
            force=force,
            dry_run=dry_run,
            screen=screen,
        )
        if on_progress is not None:
            on_progress(done, len(files))
    if prune:
        for target in targets:
            for source in target.sources(tenant):
                if source not in seen:
                    if not dry_run:
                        target.delete_source(tenant, source)
                    report.pruned += 1
                    report.pruned_sources.append(source)
    report.seconds = time.perf_counter() - started
    return report


def _ingest_file(
    file: Path,
    source: str,
    report: IngestReport,
    tenant: str,
    embedder: Embedder,
    targets: Sequence[IngestTarget],
    acl_oids: Sequence[str],
    acl_groups: Sequence[str],
    acl: Sequence[str],
    *,
    max_tokens: int,
    overlap: float,
    force: bool,
    dry_run: bool,
    screen: PassageScreen | None,
) -> None:
    """One file into the targets whose recorded hash differs; a failure is recorded, never raised."""
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            raise UnreadableDocument(f"{file}: larger than {MAX_FILE_BYTES // 2**20} MiB")
        data = file.read_bytes()
        digest = content_hash(
            data,
            embedder=embedder.name,
            max_tokens=max_tokens,
            overlap=overlap,
            acl=acl,
            screen=screen.name if screen else None,
        )
        stale = [t for t in targets if force or t.source_hash(tenant, source) != digest]
        if not stale:
            report.unchanged += 1
            return
        chunks = load_chunks(file, data, max_tokens=max_tokens, overlap=overlap)
    except (OSError, UnreadableDocument) as exc:
        report.failures.append(str(exc))
        log.warning("skipped %s: %s", file, exc)
        return
    records = [ChunkRecord(i, c.title, c.content) for i, c in enumerate(chunks)]
    if screen is not None:
        flagged = screen.flagged(source, [r.content for r in records])
        report.flagged += flagged
        if flagged and screen.policy == "refuse":
            report.refused.append(source)
            log.warning("refused %s: %d passages flagged by the injection screen", file, len(flagged))
            return
        if screen.policy == "quarantine":
            quarantined = {f.chunk for f in flagged}
            records = [r for r in records if r.chunk not in quarantined]
    if not dry_run:
        vectors = embedder.embed([f"{r.title}\n{r.content}" for r in records])
        for target in stale:
            target.replace_source(
                tenant, source, digest, records, vectors, acl_oids=acl_oids, acl_groups=acl_groups
            )
    report.ingested += 1
    report.ingested_sources.append(source)
    report.chunks += len(records)
