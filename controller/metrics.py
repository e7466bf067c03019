"""The operator's own Prometheus metrics: reconciles, their duration and errors, gate outcomes, the queue.

Served by prometheus-client on `--metrics-port` (the chart's ServiceMonitor scrapes it). Every replica
serves them; a standby replica (paused by kopf peering) reconciles nothing, so its counters stay flat.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RECONCILES = Counter(
    "chatfleet_operator_reconciles_total",
    "Reconciles of ChatApplications by outcome (ok, invalid, degraded, error).",
    ["outcome"],
)
RECONCILE_ERRORS = Counter(
    "chatfleet_operator_reconcile_errors_total",
    "Reconciles that raised, by exception type (retried by kopf or by the next event).",
    ["error"],
)
RECONCILE_SECONDS = Histogram(
    "chatfleet_operator_reconcile_duration_seconds",
    "Wall time of one reconcile, from holding the resource's lock to its status write.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
IN_FLIGHT = Gauge("chatfleet_operator_reconciles_in_flight", "Reconciles running now.")
QUEUE_DEPTH = Gauge(
    "chatfleet_operator_queue_depth",
    "Reconciles asked for and not started: child events in their debounce and reconciles waiting for "
    "the resource's lock.",
)
# `namespace` and `app` name the ChatApplication (scrape with honorLabels, as the chart's ServiceMonitor
# does, so they are not renamed to exported_*): the dashboards show each app's gate history.
GATE_OUTCOMES = Counter(
    "chatfleet_operator_gate_outcomes_total",
    "Gate verdicts per app by result (passed, failed) and reason (e.g. SLOFailed, GateTimedOut; BakeFailed "
    "for a promoted revision rolled back during its bake).",
    ["namespace", "app", "result", "reason"],
)
for _outcome in ("ok", "invalid", "degraded", "error"):
    RECONCILES.labels(_outcome)  # every outcome exported at 0, so rate() and alerts see a series at once


def serve(port: int) -> None:
    """Starts the /metrics endpoint on all interfaces (a daemon thread of prometheus-client)."""
    start_http_server(port)


@contextmanager
def queued() -> Iterator[None]:
    """Counts a reconcile as waiting for as long as the block runs (a debounce, a lock wait)."""
    QUEUE_DEPTH.inc()
    try:
        yield
    finally:
        QUEUE_DEPTH.dec()


def observe_reconcile(run: Callable[[], str]) -> str:
    """Runs one reconcile, which returns its outcome; records count, duration and errors."""
    started = time.perf_counter()
    IN_FLIGHT.inc()
    try:
        outcome = run()
    except Exception as error:
        RECONCILES.labels("error").inc()
        RECONCILE_ERRORS.labels(type(error).__name__).inc()
        raise
    finally:
        IN_FLIGHT.dec()
        RECONCILE_SECONDS.observe(time.perf_counter() - started)
    RECONCILES.labels(outcome).inc()
    return outcome


def gate_outcome(namespace: str, app: str, passed: bool, reason: str) -> None:
    GATE_OUTCOMES.labels(namespace, app, "passed" if passed else "failed", reason).inc()
