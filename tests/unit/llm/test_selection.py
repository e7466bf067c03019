"""Deployment selection: priority tiers, skipping cooling/broken deployments, weights and live signals."""

import random
from collections import Counter

from chatfleet.chat.llm.config import DeploymentConfig
from chatfleet.chat.llm.health import QUOTA_SIGNAL_TTL_S, DeploymentHealth
from chatfleet.chat.llm.selection import choose

DRAWS = 4000


def _health(
    clock, name: str, priority: int = 1, weight: int = 100, tpm: int | None = None
) -> DeploymentHealth:
    config = DeploymentConfig(
        name=name,
        endpoint="https://example.openai.azure.com",
        deployment="gpt-4o",
        priority=priority,
        weight=weight,
        tokensPerMinute=tpm,
    )
    return DeploymentHealth(config, clock, breaker_failure_threshold=1, breaker_reset_s=10)


def _shares(pool, **kwargs) -> Counter[str]:
    rng = random.Random(7)
    return Counter(choose(pool, rng=rng, **kwargs).name for _ in range(DRAWS))


def test_lowest_priority_number_wins(clock) -> None:
    ptu, paygo = _health(clock, "ptu", priority=1), _health(clock, "paygo", priority=2, weight=1000)
    assert _shares([paygo, ptu]) == {"ptu": DRAWS}


def test_spills_to_next_tier_when_the_first_is_cooling_down(clock) -> None:
    ptu, paygo = _health(clock, "ptu", priority=1), _health(clock, "paygo", priority=2)
    ptu.start_cooldown(3)
    assert choose([ptu, paygo], rng=random.Random(1)) is paygo
    clock.advance(3)
    assert choose([ptu, paygo], rng=random.Random(1)) is ptu


def test_open_breaker_is_skipped_until_its_probe_time(clock) -> None:
    a, b = _health(clock, "a"), _health(clock, "b")
    a.breaker.record_failure()
    assert _shares([a, b]) == {"b": DRAWS}
    clock.advance(10)
    assert "a" in _shares([a, b])


def test_nothing_available_returns_none(clock) -> None:
    a, b = _health(clock, "a"), _health(clock, "b")
    a.start_cooldown(1)
    b.breaker.record_failure()
    assert choose([a, b], rng=random.Random(1)) is None


def test_excluded_deployments_are_not_chosen(clock) -> None:
    a, b = _health(clock, "a"), _health(clock, "b")
    assert _shares([a, b], exclude={"a"}) == {"b": DRAWS}


def test_weights_split_traffic_proportionally(clock) -> None:
    shares = _shares([_health(clock, "big", weight=300), _health(clock, "small", weight=100)])
    assert 0.70 < shares["big"] / DRAWS < 0.80


def test_inflight_calls_shift_traffic_away(clock) -> None:
    busy, idle = _health(clock, "busy"), _health(clock, "idle")
    busy.inflight = 9
    shares = _shares([busy, idle])
    assert shares["idle"] / DRAWS > 0.85


def test_slow_ttft_shifts_traffic_away(clock) -> None:
    slow, fast = _health(clock, "slow"), _health(clock, "fast")
    slow.observe_ttft(2.0)
    fast.observe_ttft(0.5)
    shares = _shares([slow, fast])
    assert 0.15 < shares["slow"] / DRAWS < 0.25  # weight x (0.5 / 2.0)


def test_ttft_is_smoothed(clock) -> None:
    health = _health(clock, "a")
    health.observe_ttft(1.0)
    health.observe_ttft(2.0)
    assert 1.0 < health.ttft_ewma_s < 2.0


def test_nearly_exhausted_quota_is_avoided_while_the_signal_is_fresh(clock) -> None:
    drained, full = _health(clock, "drained"), _health(clock, "full")
    drained.observe_quota(remaining_tokens=100, remaining_requests=50)
    full.observe_quota(remaining_tokens=90_000, remaining_requests=50)
    assert _shares([drained, full], estimated_tokens=800)["drained"] / DRAWS < 0.1
    clock.advance(QUOTA_SIGNAL_TTL_S + 1)
    assert _shares([drained, full], estimated_tokens=800)["drained"] / DRAWS > 0.4


def test_remaining_share_of_tpm_scales_weight(clock) -> None:
    half, full = _health(clock, "half", tpm=10_000), _health(clock, "full", tpm=10_000)
    half.observe_quota(5_000, None)
    full.observe_quota(10_000, None)
    share = _shares([half, full], estimated_tokens=100)["half"] / DRAWS
    assert 0.28 < share < 0.39  # 0.5 / 1.5
