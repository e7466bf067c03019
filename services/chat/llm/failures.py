"""How a failed attempt is classified: fail over to another deployment (`FailOver`, carrying the outcome)
or end the call (`ContentFiltered`, `UpstreamRejected`, `DeadlineExceeded`, a cancellation). Classifying
also books the failure (cooldown, breaker, metrics, span), so both kinds of attempt fail the same way.

- 429 -> the deployment cools down for the announced `retry-after-ms`/`retry-after` (capped), try another;
- 5xx, 404, timeouts, connection errors -> circuit breaker failure, try another;
- content filter -> ContentFiltered, never retried elsewhere; other 400/401/403/413/422 -> UpstreamRejected.
"""

import asyncio
import math
from collections.abc import Mapping
from typing import Any

import openai

from chatfleet.chat.llm import metrics
from chatfleet.chat.llm.errors import ContentFiltered, DeadlineExceeded, UpstreamRejected
from chatfleet.chat.llm.health import DeploymentHealth
from chatfleet.chat.llm.limits import AttemptLimits
from chatfleet.chat.llm.outcomes import book_failure, book_outcome, observe_quota_headers
from chatfleet.chat.llm.tracing import end_failure

NOT_RETRIED_STATUSES = frozenset({400, 401, 403, 413, 422})
DEADLINE_SLACK_S = 0.005


class FailOver(Exception):
    """This attempt failed in a way another deployment (or a later retry) may not; carries the outcome."""

    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """`retry-after-ms` (Azure, precise) wins over `retry-after` (whole seconds); HTTP dates are ignored."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def filtered_categories(results: object) -> list[str]:
    """Names of the categories Azure marked `filtered` (or `detected` for jailbreak/protected material)."""
    if not isinstance(results, Mapping):
        return []
    return sorted(
        name
        for name, verdict in results.items()
        if isinstance(verdict, Mapping) and (verdict.get("filtered") or verdict.get("detected"))
    )


def classify_failure(
    limits: AttemptLimits, health: DeploymentHealth, error: BaseException, span: Any, deadline: float
) -> BaseException:
    """Books the failure (cooldown, breaker, metrics, span) and returns what to raise."""
    if isinstance(error, asyncio.CancelledError):
        health.breaker.release_probe()
        book_outcome(health, "cancelled")
        end_failure(span, "cancelled")
        return error
    if isinstance(error, TimeoutError | openai.APITimeoutError):
        if limits.clock() >= deadline - DEADLINE_SLACK_S:
            # The caller's deadline ran out, not the upstream's time: no breaker failure.
            health.breaker.release_probe()
            book_outcome(health, "timeout")
            end_failure(span, "deadline", error)
            return DeadlineExceeded(f"deadline of {limits.deadline_s:g}s passed while {health.name} answered")
        book_failure(health, "timeout")
        end_failure(span, "timeout", error)
        return FailOver("timeout", f"{health.name}: timed out")
    if isinstance(error, openai.APIConnectionError):
        book_failure(health, "connection_error")
        end_failure(span, "connection_error", error)
        return FailOver("connection_error", f"{health.name}: connection failed")
    if isinstance(error, openai.APIStatusError):
        return _classify_status(limits, health, error, span)
    book_failure(health, "error")
    end_failure(span, "error", error)
    return FailOver("error", f"{health.name}: {type(error).__name__}")


def _classify_status(
    limits: AttemptLimits, health: DeploymentHealth, error: openai.APIStatusError, span: Any
) -> BaseException:
    status = error.status_code
    headers = error.response.headers
    observe_quota_headers(health, headers)
    span.set_attribute("http.response.status_code", status)
    if status == 429:
        announced = retry_after_seconds(headers)
        cooldown = min(limits.max_cooldown_s, limits.default_cooldown_s if announced is None else announced)
        health.start_cooldown(cooldown)
        health.breaker.release_probe()
        metrics.UPSTREAM_COOLDOWNS.labels(health.name).inc()
        book_outcome(health, "throttled")
        end_failure(span, "throttled")
        return FailOver("throttled", f"{health.name}: throttled for {cooldown:.3f}s")
    body = error.body if isinstance(error.body, Mapping) else {}
    if status == 400 and body.get("code") == "content_filter":
        inner = body.get("innererror")
        categories = filtered_categories(
            inner.get("content_filter_result") if isinstance(inner, Mapping) else None
        )
        health.breaker.record_success()
        book_outcome(health, "content_filtered")
        end_failure(span, "content_filtered")
        return ContentFiltered("prompt", categories)
    if status in NOT_RETRIED_STATUSES:
        health.breaker.release_probe()
        book_outcome(health, "rejected")
        end_failure(span, "rejected", error)
        message = body.get("message") if isinstance(body.get("message"), str) else error.message
        return UpstreamRejected(f"{health.name} rejected the request ({status}): {message}", status)
    book_failure(health, "error")
    end_failure(span, "error", error)
    return FailOver("error", f"{health.name}: HTTP {status}")
