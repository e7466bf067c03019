"""Calibration on a simulator whose TTFT grows with concurrency finds the knee within 20 % of the true one.

The simulator's TTFT is `ttft_ms + ttft_per_inflight_ms * (requests already in flight)`. With one upstream
deployment, no query rewrite (one model call per turn) and zero think time, n concurrent users keep n
streams in flight, so a new request waits ttft_ms + per_inflight_ms * (n - 1). TTFT p95 crosses the SLO at
n* = (SLO - ttft_ms) / per_inflight_ms + 1.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.load

TTFT_MS = 50.0
PER_INFLIGHT_MS = 250.0  # large against the service's own ~100-200 ms, which the analytic knee ignores
SLO_TTFT_P95_MS = 2550.0
TRUE_KNEE = (SLO_TTFT_P95_MS - TTFT_MS) / PER_INFLIGHT_MS + 1  # 11 concurrent streams


def test_calibration_finds_the_knee_within_20_percent(processes: Any, loadtest: Any) -> None:
    simulator = processes.simulator_command(
        "--ttft-ms", str(TTFT_MS), "--ttft-per-inflight-ms", str(PER_INFLIGHT_MS),
        "--tokens-per-second", "1000",
    )  # fmt: skip
    with processes.serving(simulator) as simulator_url:
        env = processes.service_env(simulator_url, deployments=("east",), query_rewrite="never")
        with processes.serving(processes.service_command(), env) as service_url:
            run = loadtest(
                service_url, "--scenario", "steady", "--users", "2", "--run-time", "2s",
                "--slo-ttft-p95-ms", f"{SLO_TTFT_P95_MS:g}", "--slo-error-rate-percent", "5",
                "--slo-min-tokens-per-second", "1",
                "--calibrate", "--max-users", "16", "--calibrate-step-seconds", "3",
                timeout_s=240,
            )  # fmt: skip
    calibration = run.summary["calibration"]
    assert calibration["kneeFound"] is True, calibration
    knee = calibration["kneeConcurrency"]
    assert abs(knee - TRUE_KNEE) / TRUE_KNEE <= 0.2, calibration
    assert calibration["streamsPerReplica"] == int(knee * 0.8)
    users = [step["users"] for step in calibration["steps"]]
    assert users == sorted(users) and users[-1] == 16
    assert run.termination["calibration"]["streamsPerReplica"] == calibration["streamsPerReplica"]
