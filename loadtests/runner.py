"""Runs the locustfile headless in a subprocess and turns its measurements into the judged summary.

A subprocess, because Locust monkey-patches the standard library with gevent on import; the caller (the
CLI, the operator's local gate) must stay untouched. Every run is bounded twice: the scenario's schedule
ends the test, and a hard timeout kills a Locust process that does not stop by itself.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from chatfleet.contracts.loadtest import TOKEN_ENV, TOKEN_FILE_ENV, Slo
from chatfleet.loadtests.calibration import find_knee, plan_steps
from chatfleet.loadtests.summary import build_summary

STARTUP_GRACE_S = 60.0
PREFLIGHT_TIMEOUT_S = 5.0


def locustfile_path() -> Path:
    """Where the locustfile is installed, found without importing it (importing Locust patches gevent)."""
    spec = importlib.util.find_spec("chatfleet.loadtests.locustfile")
    if spec is None or spec.origin is None:
        raise RuntimeError("chatfleet.loadtests.locustfile is not installed")
    return Path(spec.origin)


class TargetUnreachable(RuntimeError):
    """Nothing answers HTTP at the target: the test cannot say anything about the SLOs."""


@dataclass(frozen=True)
class LoadTest:
    """One `chatfleet loadtest` invocation, validated by the CLI."""

    host: str
    scenario: str
    users: int
    spawn_rate: float
    run_time_s: float
    slo: Slo
    tenants: tuple[str, ...] = ()
    simulator_admin: str = ""
    fault_deployment: str = ""
    fault_kind: str = "error"
    csv_prefix: str = ""
    html_report: str = ""
    conversations: str = ""
    corpus_dir: str | None = None
    think_time: tuple[float, float] | None = None
    calibrate_max_users: int = 0
    calibrate_step_s: float = 10.0
    wait_for_target_s: float = 0.0
    progress_interval_s: float = 5.0
    token: str | None = field(default=None, repr=False)
    token_file: str | None = None  # a minted token, kept fresh there (chatfleet.loadtests.token_source)


def preflight(host: str, wait_s: float = 0.0) -> None:
    """Any HTTP answer (even 401 or 404) proves the target is up; only transport failures do not.

    Retries for `wait_s`: a fresh canary Service needs a few seconds before its endpoints route.
    """
    deadline = time.monotonic() + wait_s
    while True:
        try:
            httpx.get(host, timeout=PREFLIGHT_TIMEOUT_S, follow_redirects=False)
            return
        except httpx.TransportError as error:
            if time.monotonic() >= deadline:
                raise TargetUnreachable(
                    f"target {host} is unreachable: {type(error).__name__}: {error}"
                ) from None
        time.sleep(1.0)


def _common_args(test: LoadTest, summary_file: Path) -> list[str]:
    args = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(locustfile_path()),
        "--headless",
        "--only-summary",
        "--host",
        test.host,
        "--scenario",
        test.scenario,
        "--summary-file",
        str(summary_file),
        "--slo-ttft-p95-ms",
        str(test.slo.ttft_p95_ms),
        "--slo-error-rate-percent",
        str(test.slo.error_rate_percent),
        "--slo-min-tokens-per-second",
        str(test.slo.min_tokens_per_second),
        "--progress-interval",
        str(test.progress_interval_s),
    ]
    if test.tenants:
        args += ["--tenants", ",".join(test.tenants)]
    if test.conversations:
        args += ["--conversations", test.conversations]
    if test.corpus_dir is not None:
        args += ["--corpus-dir", test.corpus_dir]
    if test.think_time is not None:
        args += ["--think-time-min", str(test.think_time[0]), "--think-time-max", str(test.think_time[1])]
    return args


def scenario_args(test: LoadTest, summary_file: Path) -> list[str]:
    args = [
        *_common_args(test, summary_file),
        "--users",
        str(test.users),
        "--spawn-rate",
        str(test.spawn_rate),
        "--run-time",
        f"{max(1, round(test.run_time_s))}s",
    ]
    if test.simulator_admin:
        args += ["--simulator-admin", test.simulator_admin, "--fault-kind", test.fault_kind]
    if test.fault_deployment:
        args += ["--fault-deployment", test.fault_deployment]
    if test.csv_prefix:
        args += ["--csv", test.csv_prefix]
    if test.html_report:
        args += ["--html", test.html_report]
    return args


def calibration_args(test: LoadTest, summary_file: Path) -> list[str]:
    args = [
        *_common_args(test, summary_file),
        "--calibrate-max-users",
        str(test.calibrate_max_users),
        "--calibrate-step-seconds",
        str(test.calibrate_step_s),
        # let the last step's answers finish instead of dropping them when the schedule ends
        "--stop-timeout",
        str(round(_drain_seconds(test))),
    ]
    if test.csv_prefix:
        args += ["--csv", f"{test.csv_prefix}-calibration"]
    return args


def _drain_seconds(test: LoadTest) -> float:
    return max(10.0, 2 * test.calibrate_step_s)


def calibration_seconds(test: LoadTest) -> float:
    return len(plan_steps(test.calibrate_max_users)) * test.calibrate_step_s + _drain_seconds(test)


def _terminated(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _stop_child_on_sigterm() -> Iterator[None]:
    """A cancelled gate (operator kills us, Job deleted) must not leave Locust loading the target."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_locust(test: LoadTest, args: list[str], timeout_s: float, summary_file: Path) -> dict[str, Any]:
    """Runs one Locust process; its output goes to our stderr so stdout stays the verdict table."""
    env = dict(os.environ)
    if test.token:
        env[TOKEN_ENV] = test.token
    if test.token_file:
        env[TOKEN_FILE_ENV] = test.token_file
    with _stop_child_on_sigterm():
        process = subprocess.Popen(args, env=env, stdout=sys.stderr, stderr=sys.stderr)
        try:
            returncode = process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            raise LoadGeneratorFailed(
                f"Locust did not stop within {timeout_s:.0f} s and was killed"
            ) from None
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    if not summary_file.exists() or summary_file.stat().st_size == 0:
        raise LoadGeneratorFailed(f"Locust exited with code {returncode} without measurements")
    return json.loads(summary_file.read_text(encoding="utf-8"))


class LoadGeneratorFailed(RuntimeError):
    """Locust itself failed (bad data file, crash, hang): no verdict about the target is possible."""


def run(test: LoadTest) -> dict[str, Any]:
    """The judged summary of the scenario run (plus calibration when asked); raises TargetUnreachable."""
    preflight(test.host, test.wait_for_target_s)
    with tempfile.TemporaryDirectory(prefix="chatfleet-loadtest-") as scratch:
        measurement_file = Path(scratch) / "scenario.json"
        measurement = _run_locust(
            test,
            scenario_args(test, measurement_file),
            test.run_time_s + STARTUP_GRACE_S,
            measurement_file,
        )
        summary = build_summary(
            measurement,
            test.slo,
            scenario=test.scenario,
            host=test.host,
            users=test.users,
            run_time_seconds=test.run_time_s,
        )
        if test.calibrate_max_users > 0:
            steps_file = Path(scratch) / "calibration.json"
            stepped = _run_locust(
                test,
                calibration_args(test, steps_file),
                calibration_seconds(test) + STARTUP_GRACE_S,
                steps_file,
            )
            summary["calibration"] = {
                "maxUsers": test.calibrate_max_users,
                "stepSeconds": test.calibrate_step_s,
                **find_knee(stepped["steps"], test.slo),
            }
    return summary
