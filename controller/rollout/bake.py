"""The bake after promotion: a promoted revision's live figures from Prometheus, judged against its SLOs.

The load-test gate proves a revision under synthetic load; real traffic can still break it (a prompt that
misbehaves on real questions, a deployment that throttles at real volume). While `spec.rollout.bake` lasts,
the operator reads the revision's TTFT p95 and error rate over `window` from the Prometheus that scrapes the
chat pods (the chart's ServiceMonitor labels their series with `namespace`, `app` and `revision`), and the
state machine rolls back to the previous revision on a breach.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import httpx

from chatfleet.controller.spec import Bake, Slo

# The chat routes, as the chart's alert rules count them (helm/chatfleet/templates/_alerts.tpl).
CHAT_ROUTES = "/chat|/chat/stream|/v1/chat/completions"


class BakeSourceError(RuntimeError):
    """Prometheus could not answer; the bake waits (a monitoring outage never rolls an app back)."""


@dataclass(frozen=True)
class BakeReading:
    """One revision's live figures over the bake window."""

    requests: float
    errors: float
    ttft_p95_ms: float | None  # None: no turn reached its first token in the window

    @property
    def error_rate_percent(self) -> float:
        return 100.0 * self.errors / self.requests if self.requests else 0.0


def breach(reading: BakeReading | None, slo: Slo, bake: Bake) -> str | None:
    """What broke, naming the figure, the SLO and the window; None while it holds (or is too quiet)."""
    if reading is None or reading.requests < bake.min_requests:
        return None
    sample = f"over the last {bake.window} ({reading.requests:.0f} chat requests)"
    if reading.ttft_p95_ms is not None and reading.ttft_p95_ms > slo.ttft_p95_ms:
        return f"live TTFT p95 {reading.ttft_p95_ms:.0f} ms > SLO {slo.ttft_p95_ms:g} ms {sample}"
    if reading.error_rate_percent > slo.error_rate_percent:
        return f"live error rate {reading.error_rate_percent:.1f}% > SLO {slo.error_rate_percent:g}% {sample}"
    return None


class PrometheusBakeSource:
    """Reads a revision's figures with three instant queries against Prometheus's HTTP API."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def read(self, namespace: str, app: str, revision: str, window: str) -> BakeReading | None:
        """None when Prometheus has no chat request of the revision in the window."""
        selector = f'namespace="{namespace}", app="{app}", revision="{revision}"'
        chat = f'{selector}, route=~"{CHAT_ROUTES}"'
        requests = self._scalar(f"sum(increase(chatfleet_requests_total{{{chat}}}[{window}]))")
        if requests is None:
            return None
        errors = self._scalar(f'sum(increase(chatfleet_requests_total{{{chat}, code=~"5.."}}[{window}]))')
        buckets = f"chatfleet_ttft_seconds_bucket{{{selector}}}"
        ttft = self._scalar(f"histogram_quantile(0.95, sum by (le) (rate({buckets}[{window}])))")
        return BakeReading(
            requests=requests, errors=errors or 0.0, ttft_p95_ms=None if ttft is None else ttft * 1000
        )

    def _scalar(self, query: str) -> float | None:
        try:
            response = httpx.get(f"{self.url}/api/v1/query", params={"query": query}, timeout=self.timeout_s)
            body = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise BakeSourceError(f"Prometheus at {self.url} did not answer: {error}") from error
        if response.status_code != 200 or body.get("status") != "success":
            raise BakeSourceError(
                f"Prometheus at {self.url} refused {query!r}: {body.get('error', response.status_code)}"
            )
        result = body["data"]["result"]
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if math.isnan(value) else value
