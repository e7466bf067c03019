"""Decides whether an answer showed a user another tenant's documents: the multi-tenant scenario's check.

An answer leaks when a citation in its text, or a source in its `data_points`, names a document that only
other tenants own (looked up in a corpus laid out as `<root>/<tenant>/<documents>`), or when a data point
says outright that it belongs to another tenant. Documents every checked tenant owns prove nothing and
are not counted; citations of unknown documents are ungrounded, not leaks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CITATION = re.compile(r"\[([^\[\]\n]{1,300})\]")
SOURCE_KEYS = ("source", "sourcepage", "sourcefile", "filepath", "path", "title", "id")


def normalize_source(source: str) -> str:
    """`docs/benefits.md#chunk3` and `benefits.md#page=2` both name the document `benefits.md`."""
    return source.strip().split("#", 1)[0].strip().replace("\\", "/").rsplit("/", 1)[-1].lower()


def cited_sources(content: str) -> set[str]:
    """Every `[source]` citation in an answer's text."""
    return {match.strip() for match in CITATION.findall(content) if match.strip()}


def _data_point_entries(data_points: Any) -> Iterator[tuple[str | None, str | None]]:
    """Yields (source, tenant) for each data point, whatever container shape the service used."""
    if isinstance(data_points, dict):
        for key in ("citations", "text", "documents", "sources", "items"):
            if key in data_points:
                yield from _data_point_entries(data_points[key])
        return
    if not isinstance(data_points, list):
        return
    for item in data_points:
        if isinstance(item, str):
            # "benefits.md#chunk2: text of the chunk", the azure-search-openai-demo convention.
            yield item.split(":", 1)[0] if ":" in item else item, None
        elif isinstance(item, dict):
            source = next((str(item[k]) for k in SOURCE_KEYS if item.get(k)), None)
            tenant = item.get("tenant")
            yield source, str(tenant) if tenant is not None else None


@dataclass(frozen=True)
class TenantCorpus:
    """Which tenants own which document names."""

    owners: dict[str, frozenset[str]]

    @classmethod
    def from_directory(cls, root: Path) -> TenantCorpus:
        """Each sub-folder of `root` is a tenant; every file below it is one of its documents."""
        owners: dict[str, set[str]] = {}
        if root.is_dir():
            for tenant_dir in sorted(p for p in root.iterdir() if p.is_dir()):
                for document in tenant_dir.rglob("*"):
                    if document.is_file():
                        owners.setdefault(normalize_source(document.name), set()).add(tenant_dir.name)
        return cls({name: frozenset(tenants) for name, tenants in owners.items()})

    @property
    def tenants(self) -> frozenset[str]:
        return frozenset().union(*self.owners.values()) if self.owners else frozenset()

    def foreign(self, tenant: str, sources: Iterable[str]) -> list[str]:
        """The sources owned only by tenants other than `tenant`."""
        leaked = []
        for source in sources:
            holders = self.owners.get(normalize_source(source))
            if holders and tenant not in holders:
                leaked.append(source)
        return leaked

    def leaks(self, tenant: str, content: str, data_points: Any) -> list[str]:
        """Everything in one answer that belongs to another tenant, described for the summary."""
        found: list[str] = [f"cited {s}" for s in sorted(self.foreign(tenant, cited_sources(content)))]
        for source, owner in _data_point_entries(data_points):
            if owner is not None and owner != tenant:
                leak = f"data point {source or '?'} of tenant {owner}"
            elif source is not None and self.foreign(tenant, [source]):
                leak = f"data point {source}"
            else:
                continue
            if leak not in found:
                found.append(leak)
        return found
