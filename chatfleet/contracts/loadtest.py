"""The load-test gate's contract: what `chatfleet loadtest` writes and the operator reads.

Exit codes: 0 every SLO held, 1 an SLO failed (or the load generator did), 2 usage error, 3 target
unreachable. The JSON summary (`--json`, and compacted into the termination message) has the keys of
`SUMMARY_KEYS`, `calibration` when `--calibrate` ran, and `error` when the run failed; `LoadTestSummary`
reads it. The bearer token, when auth is on, comes in the environment variable `TOKEN_ENV`, never argv.
The models are lenient (missing keys become None, unknown keys are ignored) because a
half-written termination message must still yield a verdict, a failed one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

EXIT_PASSED, EXIT_SLO_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
TOKEN_ENV = "CHATFLEET_LOADTEST_TOKEN"  # noqa: S105 - the variable's name: the gate's Job sets it from a Secret
# A file holding the current token, re-read by the users: `chatfleet loadtest --token-source` keeps it fresh.
TOKEN_FILE_ENV = "CHATFLEET_LOADTEST_TOKEN_FILE"  # noqa: S105 - the variable's name


class TokenSource(StrEnum):
    """`chatfleet loadtest --token-source`: where the users' bearer token comes from."""

    STATIC = "static"  # TOKEN_ENV (or the per-tenant variables) as given
    CLIENT_CREDENTIALS = "client-credentials"  # minted per run from AZURE_TENANT_ID/_CLIENT_ID/_CLIENT_SECRET
    WORKLOAD_IDENTITY = "workload-identity"  # minted per run from the pod's federated token


def token_env_for(tenant: str) -> str:
    """`CHATFLEET_LOADTEST_TOKEN_CONTOSO` holds the token of tenant contoso's test user (load tests and
    `chatfleet eval` read the same variables, so one Secret serves both)."""
    return f"{TOKEN_ENV}_{tenant.upper().replace('-', '_')}"


SUMMARY_KEYS = (
    "scenario",
    "host",
    "users",
    "runTimeSeconds",
    "startedAt",
    "finishedAt",
    "requests",
    "failures",
    "errorRatePercent",
    "requestsPerSecond",
    "tokensPerSecond",
    "ttftMs",
    "latencyMs",
    "slo",
    "verdicts",
    "passed",
)
"""The summary's keys that survive into the termination message, in the order they are written."""


@dataclass(frozen=True)
class Slo:
    """The chat SLOs of one ChatApplication (spec.rollout.loadTest.slo)."""

    ttft_p95_ms: float
    error_rate_percent: float
    min_tokens_per_second: float

    def as_json(self) -> dict[str, float]:
        return {
            "ttftP95Ms": self.ttft_p95_ms,
            "errorRatePercent": self.error_rate_percent,
            "minTokensPerSecond": self.min_tokens_per_second,
        }


DEFAULT_SLO = Slo(ttft_p95_ms=1500.0, error_rate_percent=1.0, min_tokens_per_second=20.0)
"""What `chatfleet loadtest` and the locustfile judge by when no --slo-* flag says otherwise: the
ChatApplication spec's own defaults (spec.rollout.loadTest.slo), so an SRE's run judges like the gate."""


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
    error: str | None = None  # why the run could not judge the SLOs (unreachable target, no token)

    def failed_slo(self) -> str | None:
        """`ttftP95Ms: measured 2130, limit 1500` for the first failing SLO."""
        for verdict in self.verdicts:
            if not verdict.passed:
                return f"{verdict.slo}: measured {figure(verdict.measured)}, limit {figure(verdict.limit)}"
        return None


def figure(value: float | None) -> str:
    """A measured value as the operator's messages print it."""
    if value is None:
        return "n/a"
    return f"{value:g}" if abs(value) >= 0.01 else f"{value:.4f}"
