"""Circuit breaker: closed -> open after consecutive failures -> half-open probe -> closed or open again."""

import pytest

from chatfleet.chat.llm.breaker import BreakerState, CircuitBreaker


def test_opens_after_threshold_consecutive_failures(clock) -> None:
    breaker = CircuitBreaker(clock, failure_threshold=3, reset_s=10)
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED and breaker.can_send()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.can_send()
    assert breaker.seconds_until_probe() == pytest.approx(10)


def test_success_resets_the_failure_count(clock) -> None:
    breaker = CircuitBreaker(clock, failure_threshold=2, reset_s=10)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_half_open_allows_exactly_one_probe(clock) -> None:
    breaker = CircuitBreaker(clock, failure_threshold=1, reset_s=5)
    breaker.record_failure()
    clock.advance(4.9)
    assert not breaker.can_send()
    clock.advance(0.2)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.can_send()
    assert breaker.on_send() is True
    assert not breaker.can_send(), "a second request must wait for the probe's verdict"


def test_successful_probe_closes(clock) -> None:
    breaker = CircuitBreaker(clock, failure_threshold=1, reset_s=5)
    breaker.record_failure()
    clock.advance(5)
    breaker.on_send()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.can_send()


def test_failed_probe_reopens_for_a_full_period(clock) -> None:
    breaker = CircuitBreaker(clock, failure_threshold=3, reset_s=5)
    for _ in range(3):
        breaker.record_failure()
    clock.advance(6)
    breaker.on_send()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert breaker.seconds_until_probe() == pytest.approx(5)


def test_released_probe_frees_the_slot(clock) -> None:
    breaker = CircuitBreaker(clock, failure_threshold=1, reset_s=1)
    breaker.record_failure()
    clock.advance(1)
    breaker.on_send()
    breaker.release_probe()
    assert breaker.can_send()


@pytest.mark.parametrize(("threshold", "reset"), [(0, 1.0), (1, 0.0)])
def test_rejects_nonsense_settings(clock, threshold: int, reset: float) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(clock, failure_threshold=threshold, reset_s=reset)
