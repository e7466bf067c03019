"""Distributed Locust with the same locustfile: one master, two workers, the master judges the SLOs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chatfleet.loadtests.runner import locustfile_path
from tests.helpers.net import free_port

pytestmark = pytest.mark.load



def test_master_and_workers_run_the_same_locustfile(chat_service: str, tmp_path: Path) -> None:
    port = str(free_port())
    locust = [sys.executable, "-m", "locust", "-f", str(locustfile_path())]
    workers = [
        subprocess.Popen(
            [*locust, "--worker", "--master-host", "127.0.0.1", "--master-port", port],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    summary_file = tmp_path / "measurements.json"
    try:
        master = subprocess.run(
            [
                *locust, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
                "--expect-workers", "2", "--expect-workers-max-wait", "60", "--headless", "--only-summary",
                "--host", chat_service, "--scenario", "multi-tenant", "-u", "4", "-r", "4", "-t", "6s",
                "--think-time-min", "0", "--think-time-max", "0.5",
                "--slo-ttft-p95-ms", "5000", "--slo-error-rate-percent", "1",
                "--slo-min-tokens-per-second", "5",
                "--summary-file", str(summary_file),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )  # fmt: skip
        for worker in workers:
            worker.wait(30)  # the master tells its workers to quit
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert master.returncode == 0, master.stderr[-3000:]
    measured = json.loads(summary_file.read_text())
    assert measured["requests"] >= 2  # the workers' requests reached the master's statistics
    assert measured["failures"] == 0
    assert measured["ttftMs"]["p95"] is not None
    assert measured["tenantLeaks"]["count"] == 0
