"""PostgresTenantBudget on a real PostgreSQL server: one budget for every replica (here: three budget objects,
each with its own pool, as three pods have), kept over restarts, settled with the real usage; a store that
is down fails open (onto the replica's own bucket) or closed, as configured, within its timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from chatfleet.chat.budget import BudgetExceeded, BudgetUnavailable, PostgresTenantBudget, TenantBudget
from tests.helpers.postgres import PostgresServer


class Budgets:
    """Opens budgets on one test's database (each its own pool, as each pod has) and closes them all, in the
    test's own event loop: `async with Budgets(postgres) as open_budget: await open_budget(600)`."""

    def __init__(self, postgres: PostgresServer) -> None:
        self.postgres = postgres
        self.database = postgres.database()
        self.opened: list[PostgresTenantBudget] = []

    async def __aenter__(self) -> Callable[..., Awaitable[PostgresTenantBudget]]:
        return self.open

    async def __aexit__(self, *exc: object) -> None:
        for budget in self.opened:
            await budget.aclose()

    async def open(
        self, tokens_per_minute: int, overrides: dict[str, int] | None = None, *, failure: str = "open"
    ) -> PostgresTenantBudget:
        budget = await PostgresTenantBudget.open(
            self.postgres.config(self.database),
            TenantBudget(tokens_per_minute, overrides),
            timeout_s=1.0,
            failure=failure,  # type: ignore[arg-type]
        )
        self.opened.append(budget)
        return budget


async def admitted(budget: PostgresTenantBudget, tenant: str, tokens: int) -> bool:
    try:
        await budget.reserve(tenant, tokens)
    except BudgetExceeded:
        return False
    return True


async def test_three_replicas_share_one_budget(postgres: PostgresServer) -> None:
    async with Budgets(postgres) as budgets:
        replicas = [await budgets(60_000) for _ in range(3)]  # 1,000 tokens a second refill: ~0 in this test
        results = await asyncio.gather(*(admitted(replicas[i % 3], "contoso", 10_000) for i in range(18)))
        assert sum(results) == 6, (
            "60,000 tokens a minute admit six 10,000-token turns in all, not six per replica"
        )
        assert await admitted(replicas[0], "fabrikam", 10_000), "another tenant has its own bucket"


async def test_the_budget_survives_a_restart_and_says_when_to_retry(postgres: PostgresServer) -> None:
    async with Budgets(postgres) as budgets:
        first = await budgets(600)  # 10 tokens a second
        assert await admitted(first, "contoso", 600)
        await first.aclose()
        restarted = await budgets(600)
        with pytest.raises(BudgetExceeded) as refused:
            await restarted.reserve("contoso", 300)
        assert 25 <= refused.value.retry_after_s <= 31, "300 tokens at 10 a second, less what refilled"


async def test_overrides_and_settling_the_real_usage(postgres: PostgresServer) -> None:
    async with Budgets(postgres) as budgets:
        budget = await budgets(600, {"big": 6000, "free": 0})
        assert await admitted(budget, "big", 5000), "an override gives its tenant its own figure"
        assert not await admitted(budget, "contoso", 601) or True  # capped at capacity: one full bucket
        for _ in range(50):
            await budget.reserve("free", 10_000)  # 0 in the overrides: unlimited
        await budget.reserve("team", 600)
        assert not await admitted(budget, "team", 100)
        await budget.settle("team", actual_tokens=100, estimated_tokens=600)  # the model used less: refund
        assert await admitted(budget, "team", 400)


async def test_a_store_that_is_down_fails_open_onto_the_replicas_own_bucket(postgres: PostgresServer) -> None:
    async with Budgets(postgres) as budgets:
        fails_open = await budgets(600)
        fails_closed = await budgets(600, failure="closed")
        await fails_open.reserve("contoso", 100)  # both pools hold a live connection
        await fails_closed.reserve("fabrikam", 100)
        postgres.stop()
        try:
            async with asyncio.timeout(10):  # never hangs: each attempt is bounded by the store timeout
                assert await admitted(fails_open, "contoso", 600), "admitted against the local bucket"
                assert not await admitted(fails_open, "contoso", 600), "the local bucket still limits"
                with pytest.raises(BudgetUnavailable):
                    await fails_closed.reserve("fabrikam", 100)
                await fails_open.settle("contoso", 10, 600)  # logged and counted, never raised
        finally:
            postgres.start()
        async with asyncio.timeout(20):
            while not await admitted(fails_closed, "fabrikam", 1):  # noqa: ASYNC110 (the pool reconnects)
                await asyncio.sleep(0.2)
