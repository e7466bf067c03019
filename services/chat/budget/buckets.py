"""Per-tenant token-rate budgets in the replica's memory: one token bucket per tenant, refilled continuously
per minute.

A turn reserves its estimate up front (`check`), so one tenant's burst is refused with 429 + Retry-After
before it reaches the model deployments every tenant shares; `record` then settles the difference
between the estimate and the tokens the model really used.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from chatfleet.chat.budget.errors import BudgetExceeded


@dataclass
class _Bucket:
    level: float
    updated: float
    capacity: float

    @property
    def rate(self) -> float:
        """Tokens per second: a bucket refills its whole capacity in one minute."""
        return self.capacity / 60.0


class TenantBudget:
    """`tokens_per_minute` = 0 disables budgets; `overrides` gives named tenants their own figure (0 makes
    that tenant unlimited), so one large customer need not raise every tenant's ceiling. Buckets start
    full; capacity = one minute of the tenant's tokens.

    The lock is a plain threading lock: the critical section is a few float operations, never awaits,
    so it is safe (and cheapest) under asyncio as well as from worker threads.
    """

    def __init__(
        self,
        tokens_per_minute: int,
        overrides: Mapping[str, int] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_tenants: int = 100_000,
    ) -> None:
        self._overrides = dict(overrides or {})
        if tokens_per_minute < 0 or any(v < 0 for v in self._overrides.values()):
            raise ValueError("tokens_per_minute and its overrides must be >= 0")
        self.capacity = float(tokens_per_minute)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self._max_tenants = max_tenants

    def capacity_of(self, tenant: str) -> float:
        """The tenant's tokens per minute: its override, else the default; 0 means unlimited."""
        return float(self._overrides.get(tenant, self.capacity))

    def limits(self, tenant: str) -> bool:
        return self.capacity_of(tenant) > 0

    def _bucket(self, tenant: str, now: float) -> _Bucket:
        bucket = self._buckets.get(tenant)
        if bucket is None:
            if len(self._buckets) >= self._max_tenants:
                self._evict_full(now)
            capacity = self.capacity_of(tenant)
            bucket = self._buckets[tenant] = _Bucket(capacity, now, capacity)
        else:
            bucket.level = min(bucket.capacity, bucket.level + (now - bucket.updated) * bucket.rate)
            bucket.updated = now
        return bucket

    def _evict_full(self, now: float) -> None:
        """Forget tenants whose bucket has refilled: they are indistinguishable from new ones."""
        full = [t for t, b in self._buckets.items() if b.level + (now - b.updated) * b.rate >= b.capacity]
        for tenant in full:
            del self._buckets[tenant]

    def check(self, tenant: str, estimated_tokens: int) -> None:
        """Reserves `estimated_tokens` or raises BudgetExceeded. A request larger than the whole
        budget is capped at the capacity, so it runs once the bucket is full instead of never."""
        if not self.limits(tenant):
            return
        with self._lock:
            now = self._clock()
            bucket = self._bucket(tenant, now)
            need = min(float(max(estimated_tokens, 0)), bucket.capacity)
            if bucket.level >= need:
                bucket.level -= need
                return
            wait = (need - bucket.level) / bucket.rate
        raise BudgetExceeded(tenant, max(1.0, math.ceil(wait)))

    def record(self, tenant: str, actual_tokens: int, estimated_tokens: int = 0) -> None:
        """Settles a turn: charges `actual - estimated` (refunds when the estimate was too high)."""
        if not self.limits(tenant):
            return
        with self._lock:
            bucket = self._bucket(tenant, self._clock())
            bucket.level = min(bucket.capacity, bucket.level - (actual_tokens - estimated_tokens))

    async def reserve(self, tenant: str, estimated_tokens: int) -> None:
        """`check` as the TokenBudget protocol has it (the shared store's is a round trip)."""
        self.check(tenant, estimated_tokens)

    async def settle(self, tenant: str, actual_tokens: int, estimated_tokens: int) -> None:
        self.record(tenant, actual_tokens, estimated_tokens)

    async def aclose(self) -> None:
        pass

    def remaining(self, tenant: str) -> float:
        if not self.limits(tenant):
            return math.inf
        with self._lock:
            return self._bucket(tenant, self._clock()).level
