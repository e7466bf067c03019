"""Reading the upstream's signals: retry-after headers, cooldowns and when a pool may be retried."""

import pytest

from chatfleet.chat.llm.config import DeploymentConfig
from chatfleet.chat.llm.failures import retry_after_seconds
from chatfleet.chat.llm.health import DeploymentHealth


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500", "retry-after": "2"}, 1.5),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),
        ({"retry-after-ms": "soon", "retry-after": "3"}, 3.0),
        ({"retry-after-ms": "-5"}, None),
        ({}, None),
    ],
)
def test_retry_after_prefers_milliseconds(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(headers) == expected


def test_cooldown_keeps_the_later_end(clock) -> None:
    config = DeploymentConfig(name="a", endpoint="https://a.example", deployment="d")
    health = DeploymentHealth(config, clock)
    health.start_cooldown(5)
    health.start_cooldown(1)
    assert health.seconds_until_available() == pytest.approx(5)
    clock.advance(5)
    assert health.available() and health.throttles == 2


def test_unavailable_reports_the_breaker_wait(clock) -> None:
    config = DeploymentConfig(name="a", endpoint="https://a.example", deployment="d")
    health = DeploymentHealth(config, clock, breaker_failure_threshold=1, breaker_reset_s=8)
    health.breaker.record_failure()
    clock.advance(3)
    assert health.seconds_until_available() == pytest.approx(5)
    snapshot = health.snapshot()
    assert snapshot["breaker"] == "open" and snapshot["available"] is False
