"""What each attempt books on its deployment: the in-flight count, the breaker's verdict, the success and
failure counters, the quota the upstream reported, and the matching Prometheus series. One place, so the
non-streaming attempt, the streaming attempt and failure classification book alike."""

from collections.abc import Mapping

from chatfleet.chat.llm import metrics
from chatfleet.chat.llm.health import DeploymentHealth


def start_call(health: DeploymentHealth) -> None:
    health.breaker.on_send()
    health.inflight += 1
    metrics.UPSTREAM_INFLIGHT.labels(health.name).inc()
    metrics.UPSTREAM_BREAKER_STATE.labels(health.name).set(health.breaker.state)


def end_call(health: DeploymentHealth) -> None:
    health.inflight -= 1
    metrics.UPSTREAM_INFLIGHT.labels(health.name).dec()


def book_outcome(health: DeploymentHealth, outcome: str) -> None:
    """Counts the attempt's outcome; the breaker gauge follows, since the outcome may have moved it."""
    metrics.UPSTREAM_REQUESTS.labels(health.name, outcome).inc()
    metrics.UPSTREAM_BREAKER_STATE.labels(health.name).set(health.breaker.state)


def book_success(health: DeploymentHealth) -> None:
    health.successes += 1
    health.breaker.record_success()
    book_outcome(health, "success")


def book_failure(health: DeploymentHealth, outcome: str) -> None:
    """A failure that counts against the deployment (its breaker), unlike a throttle or a rejection."""
    health.failures += 1
    health.breaker.record_failure()
    book_outcome(health, outcome)


def observe_quota_headers(health: DeploymentHealth, headers: Mapping[str, str]) -> None:
    health.observe_quota(
        _int_header(headers, "x-ratelimit-remaining-tokens"),
        _int_header(headers, "x-ratelimit-remaining-requests"),
    )


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
