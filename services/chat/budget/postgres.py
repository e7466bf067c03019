"""`PostgresTenantBudget`: tenant token buckets in PostgreSQL, shared by every replica, kept over restarts.

The same bucket as `TenantBudget` (capacity = one minute of the tenant's tokens, refilled continuously), one
row per tenant. A reservation is ONE statement: an upsert that refills the row by the time elapsed on the
database's clock (one clock for all replicas), takes the tokens only when they are there, and returns the
new level. The row lock makes concurrent reservations from any number of replicas serialise on that tenant's
row alone, so a tenant gets its budget once, not once per replica.

Each round trip is bounded by `timeout_s`. When the store does not answer in time (down, unreachable, pool
exhausted) the budget fails as configured: `open` admits the turn against this replica's own in-memory
bucket (so an outage degrades to per-replica budgets, never to none), `closed` refuses it
(BudgetUnavailable, a 503). Either way a request never waits longer than the timeout on the store.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import Any, Literal

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from chatfleet.chat.budget.buckets import TenantBudget
from chatfleet.chat.budget.errors import BudgetExceeded, BudgetUnavailable
from chatfleet.chat.postgres import PostgresConfig, open_migrated_pool

log = logging.getLogger("chatfleet.chat.budget")

COMPONENT = "budget"
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE budget_buckets (
        tenant text PRIMARY KEY,
        level double precision NOT NULL,
        updated_at timestamptz NOT NULL
    );
    """,
)

# The level after refilling for the time since the last update, capped at the capacity.
_REFILLED = "LEAST(%(capacity)s, b.level + EXTRACT(EPOCH FROM now() - b.updated_at) * %(rate)s)"
_RESERVE = (
    "INSERT INTO budget_buckets AS b (tenant, level, updated_at) "  # noqa: S608 (constants)
    "VALUES (%(tenant)s, %(capacity)s - %(need)s, now()) "
    f"ON CONFLICT (tenant) DO UPDATE SET level = {_REFILLED} - %(need)s, updated_at = now() "
    f"WHERE {_REFILLED} >= %(need)s RETURNING level"
)
_LEVEL = f"SELECT {_REFILLED} FROM budget_buckets b WHERE tenant = %(tenant)s"  # noqa: S608 (constants)
_SETTLE = (
    f"UPDATE budget_buckets b SET level = LEAST(%(capacity)s, {_REFILLED} - %(delta)s), "  # noqa: S608
    "updated_at = now() WHERE tenant = %(tenant)s"
)
_STORE_ERRORS = (psycopg.Error, PoolTimeout, TimeoutError, OSError)

Failure = Literal["open", "closed"]


class PostgresTenantBudget:
    """Shared buckets; `local` gives the figures (default, overrides) and is the fail-open fallback."""

    def __init__(
        self,
        pool: AsyncConnectionPool[AsyncConnection[Any]],
        local: TenantBudget,
        *,
        timeout_s: float,
        failure: Failure,
        on_store_error: Callable[[str], None] = lambda operation: None,
    ) -> None:
        self._pool = pool
        self.local = local
        self.timeout_s = timeout_s
        self.failure = failure
        self.on_store_error = on_store_error

    @classmethod
    async def open(
        cls,
        config: PostgresConfig,
        local: TenantBudget,
        *,
        timeout_s: float,
        failure: Failure,
        on_store_error: Callable[[str], None] = lambda operation: None,
    ) -> PostgresTenantBudget:
        """Connects and migrates before the first request (a store that is down fails start-up)."""
        pool = await open_migrated_pool(
            config, name="chatfleet-budget", component=COMPONENT, scripts=MIGRATIONS
        )
        return cls(pool, local, timeout_s=timeout_s, failure=failure, on_store_error=on_store_error)

    def limits(self, tenant: str) -> bool:
        return self.local.limits(tenant)

    def _args(self, tenant: str, **extra: float) -> dict[str, Any]:
        capacity = self.local.capacity_of(tenant)
        return {"tenant": tenant, "capacity": capacity, "rate": capacity / 60.0, **extra}

    async def _fetch(self, sql: str, args: dict[str, Any]) -> tuple[Any, ...] | None:
        async with asyncio.timeout(self.timeout_s), self._pool.connection(self.timeout_s) as conn:
            return await (await conn.execute(sql, args)).fetchone()

    async def reserve(self, tenant: str, estimated_tokens: int) -> None:
        if not self.limits(tenant):
            return
        capacity = self.local.capacity_of(tenant)
        need = min(float(max(estimated_tokens, 0)), capacity)  # a request above the budget runs when full
        args = self._args(tenant, need=need)
        try:
            if await self._fetch(_RESERVE, args) is not None:
                return
            level_row = await self._fetch(_LEVEL, args)
        except _STORE_ERRORS as error:
            self._store_failed("reserve", tenant, error)
            self.local.check(tenant, estimated_tokens)  # fail open: this replica's own bucket
            return
        level = float(level_row[0]) if level_row else 0.0
        raise BudgetExceeded(tenant, max(1.0, math.ceil((need - level) / args["rate"])))

    async def settle(self, tenant: str, actual_tokens: int, estimated_tokens: int) -> None:
        if not self.limits(tenant) or actual_tokens == estimated_tokens:
            return
        try:
            await self._execute_settle(self._args(tenant, delta=float(actual_tokens - estimated_tokens)))
        except _STORE_ERRORS as error:
            self.on_store_error("settle")
            log.warning("budget store: settling tenant %s failed (%s); the difference is lost", tenant, error)

    async def _execute_settle(self, args: dict[str, Any]) -> None:
        async with asyncio.timeout(self.timeout_s), self._pool.connection(self.timeout_s) as conn:
            await conn.execute(_SETTLE, args)

    def _store_failed(self, operation: str, tenant: str, error: BaseException) -> None:
        self.on_store_error(operation)
        if self.failure == "closed":
            log.warning(
                "budget store unavailable (%s): refusing a turn of tenant %s", type(error).__name__, tenant
            )
            raise BudgetUnavailable(
                f"the token budget store did not answer within {self.timeout_s:g}s"
            ) from error
        log.warning(
            "budget store unavailable (%s): tenant %s checked against this replica's own bucket",
            type(error).__name__,
            tenant,
        )

    async def aclose(self) -> None:
        await self._pool.close()
