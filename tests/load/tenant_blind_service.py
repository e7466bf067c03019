"""Starts the real chat service with ONE test double: a retriever whose tenant filter is broken.

`python tests/load/tenant_blind_service.py [serve flags]`: everything else (auth, chain, router, local index,
streaming) is the production code; only the retriever searches as every tenant and returns all their hits,
the bug the multi-tenant scenario exists to catch. Used by test_tenant_leak.py, never shipped.
"""

from __future__ import annotations

import sys
from typing import Any

import chatfleet.chat.components as components
from chatfleet.chat.retrieval import Hit, Principal, Retriever

TENANTS = ("contoso", "fabrikam")


class TenantBlindRetriever:
    """Wraps the real retriever but ignores the caller's tenant: the leak under test."""

    def __init__(self, inner: Retriever) -> None:
        self.inner = inner

    async def search(self, query: str, principal: Principal, **options: Any) -> list[Hit]:
        hits: list[Hit] = []
        for tenant in TENANTS:
            hits += await self.inner.search(query, Principal(tenant=tenant), **options)
        return hits

    def ready(self) -> bool:
        return self.inner.ready()

    async def aclose(self) -> None:
        await self.inner.aclose()


def main() -> None:
    real_build = components.build_retriever
    components.build_retriever = lambda settings: TenantBlindRetriever(real_build(settings))  # type: ignore[assignment]
    from chatfleet.cli import app

    app(["serve", *sys.argv[1:]])


if __name__ == "__main__":
    main()
