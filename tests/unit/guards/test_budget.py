"""Per-tenant token buckets: isolation between tenants, refill, Retry-After and settlement."""

import asyncio

import pytest

from chatfleet.chat.budget import BudgetExceeded, TenantBudget


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_tenants_have_separate_buckets_and_refill_per_minute():
    clock = Clock()
    budget = TenantBudget(600, clock=clock)  # 10 tokens per second
    budget.check("a", 600)
    with pytest.raises(BudgetExceeded) as info:
        budget.check("a", 100)
    assert info.value.retry_after_s == 10
    assert info.value.tenant == "a"
    budget.check("b", 600)  # tenant b is not affected by a's spending
    clock.now += 10
    budget.check("a", 100)


def test_record_settles_the_estimate():
    clock = Clock()
    budget = TenantBudget(1000, clock=clock)
    budget.check("a", 800)
    budget.record("a", 300, estimated_tokens=800)  # used less than reserved: refund 500
    assert budget.remaining("a") == pytest.approx(700)
    budget.record("a", 900)  # unreserved usage is charged in full, may go negative
    assert budget.remaining("a") == pytest.approx(-200)
    with pytest.raises(BudgetExceeded):
        budget.check("a", 1)


def test_request_larger_than_capacity_waits_for_a_full_bucket_instead_of_never_running():
    clock = Clock()
    budget = TenantBudget(60, clock=clock)
    budget.check("a", 10_000)
    with pytest.raises(BudgetExceeded) as info:
        budget.check("a", 10_000)
    assert info.value.retry_after_s == 60


def test_zero_disables():
    budget = TenantBudget(0)
    for _ in range(100):
        budget.check("a", 10**9)
    assert not budget.limits("a")


def test_overrides_give_named_tenants_their_own_budget():
    clock = Clock()
    budget = TenantBudget(600, {"big": 6000, "free": 0}, clock=clock)
    budget.check("big", 6000)  # ten times the default fits in one minute
    with pytest.raises(BudgetExceeded) as info:
        budget.check("big", 600)
    assert info.value.retry_after_s == 6  # refills at 100 tokens/s, not the default 10
    budget.check("small", 600)
    with pytest.raises(BudgetExceeded):
        budget.check("small", 600)
    for _ in range(100):
        budget.check("free", 10**9)  # 0 makes that tenant unlimited
    assert budget.remaining("free") == float("inf")
    assert budget.remaining("small") == pytest.approx(0)


def test_an_override_limits_a_tenant_when_the_default_is_unlimited():
    budget = TenantBudget(0, {"capped": 60}, clock=Clock())
    budget.check("anyone", 10**9)
    budget.check("capped", 60)
    with pytest.raises(BudgetExceeded):
        budget.check("capped", 1)


def test_negative_budget_rejected():
    with pytest.raises(ValueError, match="tokens_per_minute"):
        TenantBudget(-1)
    with pytest.raises(ValueError, match="overrides"):
        TenantBudget(10, {"a": -1})


async def test_concurrent_reservations_never_overspend():
    budget = TenantBudget(1000, clock=Clock())
    granted = 0

    async def reserve() -> None:
        nonlocal granted
        await asyncio.sleep(0)
        try:
            budget.check("a", 100)
            granted += 1
        except BudgetExceeded:
            pass

    await asyncio.gather(*(reserve() for _ in range(50)))
    assert granted == 10


def test_idle_tenants_are_forgotten_when_the_table_is_full():
    clock = Clock()
    budget = TenantBudget(60, clock=clock, max_tenants=2)
    budget.check("a", 60)
    budget.check("b", 1)
    clock.now += 120  # both refilled
    budget.check("c", 1)
    assert len(budget._buckets) <= 2
