"""Reads a finished run's Locust statistics into the measurement dict the summary judges.

Runs where the statistics are complete: in the local runner, or on the master of a distributed run
(workers report their request, TTFT and TPS rows to it). Percentiles come from Locust's own histograms.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from locust.stats import RequestStats, StatsEntry

from chatfleet.loadtests.schedule import Schedule, step_name
from chatfleet.loadtests.users import TENANT_LEAK, TPS_ROW, TTFT_ROW, row_name

_WRAPPED = re.compile(r"^\w+\((['\"])(.*)\1\)$", re.DOTALL)
MAX_LEAK_EXAMPLES = 20


def _merged(stats: RequestStats, method: str, names: list[str] | None = None) -> StatsEntry:
    """One entry adding up every row of `method` (optionally only the given row names)."""
    merged = StatsEntry(stats, "merged", method, use_response_times_cache=False)
    for (name, row_method), entry in stats.entries.items():
        if row_method == method and (names is None or name in names):
            merged.extend(entry)
    return merged


def _percentiles(entry: StatsEntry, points: dict[str, float]) -> dict[str, float | None]:
    if entry.num_requests == 0:
        return dict.fromkeys(points)
    return {label: float(entry.get_response_time_percentile(p)) for label, p in points.items()}


def error_message(raw: str) -> str:
    """`CatchResponseError('http 503: ...')` -> `http 503: ...`."""
    match = _WRAPPED.match(raw)
    return match.group(2) if match else raw


def failure_kind(message: str) -> str:
    return message.split(":", 1)[0].strip()


def _errors(stats: RequestStats) -> tuple[dict[str, int], list[str], int]:
    kinds: Counter[str] = Counter()
    leaks: list[str] = []
    leak_count = 0
    for error in stats.errors.values():
        message = error_message(str(error.error))
        kinds[failure_kind(message)] += error.occurrences
        if message.startswith(TENANT_LEAK):
            leak_count += error.occurrences
            if len(leaks) < MAX_LEAK_EXAMPLES:
                leaks.append(message.split(":", 1)[1].strip())
    return dict(kinds), leaks, leak_count


def measure(stats: RequestStats, *, started_at: str, finished_at: str, duration_s: float) -> dict[str, Any]:
    """Totals over all chat rows; TTFT/latency percentiles; failure kinds; tenant leaks."""
    requests = _merged(stats, "POST")
    ttft = _merged(stats, TTFT_ROW)
    tps = _merged(stats, TPS_ROW)
    kinds, leaks, leak_count = _errors(stats)
    return {
        "startedAt": started_at,
        "finishedAt": finished_at,
        "durationSeconds": round(duration_s, 3),
        "requests": requests.num_requests,
        "failures": requests.num_failures,
        "outputTokens": ttft.total_content_length,
        "ttftMs": _percentiles(ttft, {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}),
        "latencyMs": _percentiles(requests, {"p50": 0.5, "p95": 0.95, "p99": 0.99}),
        "streamTokensPerSecond": _percentiles(tps, {"p10": 0.1, "p50": 0.5}),
        "failuresByKind": kinds,
        "tenantLeaks": {"count": leak_count, "examples": leaks},
    }


def measure_steps(stats: RequestStats, schedule: Schedule) -> list[dict[str, Any]]:
    """Per calibration step: users, TTFT p95 and the request rate over the step's measured window."""
    steps = []
    window = schedule.measured_seconds_per_step
    for users in schedule.step_users:
        name = row_name(step_name(users))
        requests = stats.entries.get((name, "POST"))
        ttft = stats.entries.get((name, TTFT_ROW))
        count = requests.num_requests if requests else 0
        failures = requests.num_failures if requests else 0
        steps.append(
            {
                "users": users,
                "requests": count,
                "failures": failures,
                "errorRatePercent": round(failures * 100.0 / count, 3) if count else None,
                "ttftP95Ms": float(ttft.get_response_time_percentile(0.95))
                if ttft and ttft.num_requests
                else None,
                "ttftP50Ms": float(ttft.get_response_time_percentile(0.5))
                if ttft and ttft.num_requests
                else None,
                "requestsPerSecond": round(count / window, 3) if window > 0 else None,
            }
        )
    return steps


def progress_line(stats: RequestStats, users: int, elapsed_s: float) -> str:
    """One line of a headless run so far: users, chat requests/s (last seconds), TTFT p95, errors."""
    requests = _merged(stats, "POST")
    ttft = _merged(stats, TTFT_ROW)
    rps = sum(e.current_rps for (_, method), e in stats.entries.items() if method == "POST")
    p95 = f"{ttft.get_response_time_percentile(0.95):.0f} ms" if ttft.num_requests else "-"
    share = 100 * requests.num_failures / requests.num_requests if requests.num_requests else 0.0
    return (
        f"[chatfleet] {elapsed_s:.0f}s users={users} req/s={rps:.1f} requests={requests.num_requests} "
        f"ttft_p95={p95} errors={requests.num_failures} ({share:.1f}%)"
    )
