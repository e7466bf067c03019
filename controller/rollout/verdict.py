"""The one parser of `chatfleet loadtest` results (JSON summary / termination message) and exit codes.

Contract with the load-test CLI: exit 0 = every SLO held, 1 = an SLO failed, 2 = usage error,
3 = target unreachable; the summary has `passed`, `verdicts[{slo, limit, measured, passed}]`, TTFT and
latency percentiles, rates, and `calibration` only when `--calibrate` ran. The termination message is a
compact version of the same keys. Parsing is tolerant: missing keys become None, never an exception,
because a half-written message must still yield a verdict (a failed one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

EXIT_PASSED, EXIT_SLO_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
EXIT_REASONS = {
    EXIT_SLO_FAILED: "SLOFailed",
    EXIT_USAGE: "LoadTestMisconfigured",
    EXIT_UNREACHABLE: "TargetUnreachable",
}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Percentiles(_Lenient):
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None


class SloVerdict(_Lenient):
    slo: str
    limit: float | None = None
    measured: float | None = None
    passed: bool


class Calibration(_Lenient):
    streams_per_replica: int | None = Field(None, alias="streamsPerReplica")
    knee_concurrency: float | None = Field(None, alias="kneeConcurrency")
    steps: list[dict[str, Any]] = Field(default_factory=list)


class LoadTestSummary(_Lenient):
    """The JSON summary of one `chatfleet loadtest` run (all fields optional but `passed`)."""

    scenario: str | None = None
    host: str | None = None
    users: int | None = None
    started_at: datetime | None = Field(None, alias="startedAt")
    finished_at: datetime | None = Field(None, alias="finishedAt")
    requests: int | None = None
    failures: int | None = None
    error_rate_percent: float | None = Field(None, alias="errorRatePercent")
    requests_per_second: float | None = Field(None, alias="requestsPerSecond")
    tokens_per_second: float | None = Field(None, alias="tokensPerSecond")
    ttft_ms: Percentiles = Field(default_factory=Percentiles, alias="ttftMs")
    latency_ms: Percentiles = Field(default_factory=Percentiles, alias="latencyMs")
    verdicts: list[SloVerdict] = Field(default_factory=list)
    passed: bool
    calibration: Calibration | None = None

    def failed_slo(self) -> str | None:
        """`ttftP95Ms: measured 2130 > limit 1500` for the first failing SLO."""
        for verdict in self.verdicts:
            if not verdict.passed:
                return f"{verdict.slo}: measured {_num(verdict.measured)}, limit {_num(verdict.limit)}"
        return None


def _num(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:g}" if abs(value) >= 0.01 else f"{value:.4f}"


def parse_summary(text: str | bytes | None) -> LoadTestSummary | None:
    """The summary in a JSON document, or None when the text is empty or not a summary."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    try:
        return LoadTestSummary.model_validate(data)
    except ValidationError:
        return None


@dataclass(frozen=True)
class GateVerdict:
    """Outcome of one gate run: passed or not, a CamelCase reason, a message a person can act on."""

    passed: bool
    reason: str
    message: str
    summary: LoadTestSummary | None = None


def verdict_from_exit(exit_code: int | None, summary: LoadTestSummary | None, target: str) -> GateVerdict:
    """Combines the exit code (authoritative) with the summary (the figures and the failing SLO)."""
    if exit_code == EXIT_PASSED:
        figures = _figures(summary)
        return GateVerdict(True, "SLOsMet", f"load test against {target} met every SLO{figures}", summary)
    reason = EXIT_REASONS.get(exit_code or -1, "LoadTestFailed")
    if reason == "SLOFailed" and summary and summary.failed_slo():
        message = f"SLO failed: {summary.failed_slo()}"
    elif reason == "TargetUnreachable":
        message = f"load test could not reach the candidate at {target}"
    elif reason == "LoadTestMisconfigured":
        message = "load test rejected its arguments (exit 2); check spec.rollout.loadTest"
    else:
        message = f"load test failed (exit code {exit_code})"
    return GateVerdict(False, reason, message, summary)


def timed_out(timeout_seconds: int) -> GateVerdict:
    return GateVerdict(
        False, "GateTimedOut", f"load test did not finish within gateTimeout ({timeout_seconds}s)", None
    )


def _figures(summary: LoadTestSummary | None) -> str:
    if summary is None or summary.ttft_ms.p95 is None:
        return ""
    return f" (TTFT p95 {_num(summary.ttft_ms.p95)} ms, error rate {_num(summary.error_rate_percent)}%)"
