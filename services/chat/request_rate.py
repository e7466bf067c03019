"""Per-user request rate: at most N chat requests per minute per user (CHATFLEET_USER_REQUESTS_PER_MINUTE).

The tenant token budget protects the shared model deployments from one tenant; this limit stops one user
(or one stolen token) from taking a tenant's whole budget, or a replica's CPU, by itself. The key is the
verified token's tenant + `oid` (dev mode: the tenant header), never anything the body says. The counting
is `limits`' sliding-window counter in process memory: per replica, so with N replicas a user gets at most
N times the rate, which bounds abuse without a shared store on the request path.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter


class UserRateExceeded(Exception):
    """The user used up the minute's requests; retry after `retry_after_s`."""

    def __init__(self, limit: int, retry_after_s: float) -> None:
        super().__init__(
            f"more than {limit} requests per minute from this user; retry in {retry_after_s:.0f}s"
        )
        self.limit = limit
        self.retry_after_s = retry_after_s


class UserRateLimit:
    """`check(tenant, oid)` counts one request, or raises UserRateExceeded; 0 requests per minute = off."""

    def __init__(self, requests_per_minute: int) -> None:
        self.requests_per_minute = requests_per_minute
        self._item = RateLimitItemPerMinute(requests_per_minute) if requests_per_minute > 0 else None
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage()) if self._item else None

    def check(self, tenant: str, oid: str | None) -> None:
        """`oid` None (a token without one) shares the tenant's anonymous key."""
        if self._item is None or self._limiter is None:
            return
        key = (tenant, oid or "")
        if self._limiter.hit(self._item, *key):
            return
        reset = self._limiter.get_window_stats(self._item, *key).reset_time
        raise UserRateExceeded(self.requests_per_minute, max(1.0, math.ceil(reset - time.time())))
