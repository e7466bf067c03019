"""Prometheus metrics of upstream calls, on the default registry so the service's `/metrics` exposes them.

Label values are deployment names from settings (bounded) and a fixed set of outcomes: success, throttled,
error, timeout, connection_error, stream_broken, content_filtered, rejected, cancelled.
"""

from prometheus_client import Counter, Gauge, Histogram

UPSTREAM_REQUESTS = Counter(
    "chatfleet_upstream_requests_total",
    "Calls to Azure OpenAI deployments by outcome (one per attempt, retries included).",
    ["deployment", "outcome"],
)
UPSTREAM_TTFT = Histogram(
    "chatfleet_upstream_ttft_seconds",
    "Time from sending an upstream request to its first content token.",
    ["deployment"],
    buckets=(0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 30.0),
)
UPSTREAM_COOLDOWNS = Counter(
    "chatfleet_upstream_cooldowns_total",
    "Times a deployment was put in cooldown after a 429.",
    ["deployment"],
)
UPSTREAM_BREAKER_STATE = Gauge(
    "chatfleet_upstream_breaker_state",
    "Circuit breaker of a deployment: 0 closed, 1 half-open, 2 open.",
    ["deployment"],
)
UPSTREAM_INFLIGHT = Gauge(
    "chatfleet_upstream_inflight",
    "Calls in flight to a deployment (streams count until their last token).",
    ["deployment"],
)
