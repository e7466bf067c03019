"""Prometheus metrics of the chat service; the HPA and the load gate read these names.

Each app instance owns a registry (tests create several apps in one process); the router's upstream
metrics (`chatfleet_upstream_*`) live on the default registry and /metrics serves both. Tenant labels are
bounded: only allow-listed tenants appear by name, everyone else is "other", so no caller can explode
cardinality.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

TTFT_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0)
GROUNDEDNESS_BUCKETS = (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
RETRIEVAL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
OTHER_TENANT = "other"
MAX_WINDOW_SAMPLES = 20_000

# `*_created` series double the scrape size and no dashboard or HPA rule reads them.
disable_created_metrics()


class RollingQuantile:
    """Quantile of the samples seen in the last `window_s` seconds (per pod): the HPA's SLO-guard signal."""

    def __init__(self, window_s: float, quantile: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self.quantile = quantile
        self.clock = clock
        self._samples: deque[tuple[float, float]] = deque(maxlen=MAX_WINDOW_SAMPLES)
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        with self._lock:
            self._samples.append((self.clock(), value))

    def value(self) -> float:
        """Nearest-rank quantile; 0 with no recent samples (an idle pod is not slow)."""
        horizon = self.clock() - self.window_s
        with self._lock:
            while self._samples and self._samples[0][0] < horizon:
                self._samples.popleft()
            values = sorted(v for _, v in self._samples)
        if not values:
            return 0.0
        rank = max(1, math.ceil(self.quantile * len(values)))
        return values[rank - 1]


class ServiceMetrics:
    """All metrics the service exports, registered on its own registry."""

    def __init__(
        self,
        tenants: Iterable[str],
        ttft_window_s: float,
        slo_ttft_p95_s: float = 0.0,
        hpa_ttft_p95_target_s: float = 0.0,
    ) -> None:
        self.registry = CollectorRegistry()
        self.tenants = frozenset(tenants)
        r = self.registry
        self.requests_total = Counter(
            "chatfleet_requests", "HTTP requests by route and status code.", ["route", "code"], registry=r
        )
        self.ttft_seconds = Histogram(
            "chatfleet_ttft_seconds",
            "Time from request arrival to the first answer token sent to the client.",
            ["route", "tenant"],
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.inflight_streams = Gauge(
            "chatfleet_inflight_streams",
            "Answers currently being generated (the HPA's leading metric).",
            registry=r,
        )
        self.ttft_window = RollingQuantile(ttft_window_s, 0.95)
        self.ttft_p95_seconds = Gauge(
            "chatfleet_ttft_p95_seconds", f"Rolling p95 TTFT of this pod over {ttft_window_s:g}s.", registry=r
        )
        self.ttft_p95_seconds.set_function(self.ttft_window.value)
        self.output_tokens_total = Counter(
            "chatfleet_output_tokens", "Answer tokens generated.", ["tenant"], registry=r
        )
        self.input_tokens_total = Counter(
            "chatfleet_input_tokens", "Prompt tokens sent upstream.", ["tenant"], registry=r
        )
        self.tenant_turns_total = Counter(
            "chatfleet_tenant_turns", "Chat turns by tenant and outcome.", ["tenant", "outcome"], registry=r
        )
        self.turn_problems_total = Counter(
            "chatfleet_turn_problems",
            "Chat turns refused or failed, by tenant and problem type slug (rate-limited, ...).",
            ["tenant", "problem"],
            registry=r,
        )
        self.retrieval_seconds = Histogram(
            "chatfleet_retrieval_seconds",
            "Retrieval latency of one turn.",
            buckets=RETRIEVAL_BUCKETS,
            registry=r,
        )
        self.citations_dropped_total = Counter(
            "chatfleet_citations_dropped",
            "Citations removed because they named no retrieved source.",
            registry=r,
        )
        self.sources_withheld_total = Counter(
            "chatfleet_sources_withheld",
            "Retrieved sources kept out of the answer prompt because the injection screen flagged them.",
            registry=r,
        )
        self.uncited_answers_total = Counter(
            "chatfleet_uncited_answers",
            "Model answers that cited no retrieved source, by what was done (CHATFLEET_UNCITED_ANSWER).",
            ["action"],
            registry=r,
        )
        self.answer_markup_removed_total = Counter(
            "chatfleet_answer_markup_removed",
            "HTML tags and links to hosts not allow-listed removed from answers.",
            ["kind"],
            registry=r,
        )
        self.budget_store_errors_total = Counter(
            "chatfleet_budget_store_errors",
            "Round trips to the shared budget store that failed or timed out, by operation (reserve, "
            "settle); the turn then fell back as CHATFLEET_BUDGET_STORE_FAILURE says.",
            ["operation"],
            registry=r,
        )
        self.history_dropped_total = Counter(
            "chatfleet_history_dropped",
            "Finished turns not recorded in the history because its write queue was full.",
            registry=r,
        )
        # Hit rate: hit / (hit + miss + denied); `bypass` counts follow-ups, which never use the cache.
        self.semantic_cache_lookups_total = Counter(
            "chatfleet_semantic_cache_lookups",
            "Semantic cache lookups by outcome: hit, miss, denied (close enough but a source the caller may "
            "not read), bypass (a follow-up), error (the store failed: answered afresh).",
            ["tenant", "outcome"],
            registry=r,
        )
        self.semantic_cache_saved_tokens_total = Counter(
            "chatfleet_semantic_cache_saved_tokens",
            "Model tokens (prompt + completion, as the cached answer cost) not spent thanks to cache hits.",
            ["tenant"],
            registry=r,
        )
        self.answer_groundedness = Histogram(
            "chatfleet_answer_groundedness",
            "Groundedness of sampled answers (CHATFLEET_QUALITY_SAMPLE_RATE), the rule of chatfleet eval.",
            ["prompt_version", "deployment"],
            buckets=GROUNDEDNESS_BUCKETS,
            registry=r,
        )
        self.quality_samples_dropped_total = Counter(
            "chatfleet_quality_samples_dropped",
            "Sampled answers not scored because the scoring queue was full.",
            registry=r,
        )
        self.feedback_total = Counter(
            "chatfleet_feedback",
            "Thumbs up/down given to answers, by rating and answer prompt version.",
            ["rating", "prompt_version"],
            registry=r,
        )

        # The app's own lines on the dashboard's TTFT panel; absent when not configured (no fake zero line).
        for name, help_text, seconds in (
            ("chatfleet_slo_ttft_p95_seconds", "The app's TTFT p95 SLO.", slo_ttft_p95_s),
            (
                "chatfleet_hpa_ttft_p95_target_seconds",
                "TTFT p95 the app's HPA scales out at.",
                hpa_ttft_p95_target_s,
            ),
        ):
            if seconds > 0:
                Gauge(name, help_text, registry=r).set(seconds)

    def tenant_label(self, tenant: str) -> str:
        return tenant if tenant in self.tenants else OTHER_TENANT

    def observe_ttft(self, route: str, tenant: str, seconds: float) -> None:
        self.ttft_seconds.labels(route, self.tenant_label(tenant)).observe(seconds)
        self.ttft_window.observe(seconds)
