"""The budget contract the chain sees, whichever store keeps the buckets."""

from __future__ import annotations

from typing import Protocol


class TokenBudget(Protocol):
    def limits(self, tenant: str) -> bool:
        """False for an unlimited tenant (no store round trip at all)."""
        ...

    async def reserve(self, tenant: str, estimated_tokens: int) -> None:
        """Takes `estimated_tokens` from the tenant's bucket or raises BudgetExceeded (or, for a shared
        store that is down and configured to fail closed, BudgetUnavailable)."""
        ...

    async def settle(self, tenant: str, actual_tokens: int, estimated_tokens: int) -> None:
        """Charges `actual - estimated` once the model answered (refunds an overestimate)."""
        ...

    async def aclose(self) -> None: ...
