"""The locustfile as an SRE uses it interactively (web UI) and headless (progress lines), on loopback.

The web UI is driven over HTTP like its form does (`POST /swarm`), twice: the second run's user count and
run time must be the ones it was started with, not the first run's (the plan used to be built once).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chatfleet.loadtests.runner import locustfile_path
from tests.helpers.net import free_port
from tests.helpers.processes import stop

pytestmark = pytest.mark.load


@pytest.fixture
def web_ui(chat_service: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / "locust.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(locustfile_path()),
            "--host",
            chat_service,
            "--web-host",
            "127.0.0.1",
            "--web-port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url, timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, (
                    tmp_path / "locust.log"
                ).read_text()
                time.sleep(0.2)
        yield url
    finally:
        stop(process, 10, 5)
        log.close()


def swarm(url: str, users: int, run_time: str) -> int:
    """Starts a run from the form's fields and returns its peak user count once the shape stops it."""
    form = {
        "user_count": str(users),
        "spawn_rate": str(users * 10),
        "run_time": run_time,
        "scenario": "steady",
        "tenants": "contoso",
        "think_time_min": "0.1",
        "think_time_max": "0.2",
        "slo_ttft_p95_ms": "3000",
        "slo_error_rate_percent": "5",
        "slo_min_tokens_per_second": "5",
    }
    answer = httpx.post(f"{url}/swarm", data=form, timeout=10).json()
    assert answer["success"], answer
    # /stats/requests is cached for ~2 s: wait to see this run running before waiting for its end
    peak, started, deadline = 0, False, time.monotonic() + 60
    while True:
        stats = httpx.get(f"{url}/stats/requests", timeout=5).json()
        peak = max(peak, stats["user_count"])
        started = started or stats["state"] in ("spawning", "running")
        if started and stats["state"] == "stopped":
            return peak
        assert time.monotonic() < deadline, stats["state"]
        time.sleep(0.2)


def test_web_ui_shows_chatfleet_options_and_each_run_uses_its_form(web_ui: str) -> None:
    page = httpx.get(web_ui, timeout=5).text
    extra = json.loads(re.search(r"window\.templateArgs = (\{.*?\})\s*</script>", page, re.S).group(1))[
        "extra_options"
    ]
    assert extra["scenario"]["choices"] == ["steady", "spike", "failover", "long-answers", "multi-tenant"]
    for name in ("tenants", "slo_ttft_p95_ms", "slo_error_rate_percent", "slo_min_tokens_per_second"):
        assert name in extra, sorted(extra)
    assert extra["slo_ttft_p95_ms"]["default_value"] == 1500.0
    assert "summary_file" not in extra and "calibrate_max_users" not in extra

    assert swarm(web_ui, 2, "3s") == 2
    assert swarm(web_ui, 4, "3s") == 4  # the second run's own user count, not the first plan's


def test_headless_run_prints_progress_lines(chat_service: str, tmp_path: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "chatfleet",
            "loadtest",
            "--host",
            chat_service,
            "--users",
            "2",
            "--run-time",
            "4s",
            "--think-time-min",
            "0.1",
            "--think-time-max",
            "0.2",
            "--progress-interval",
            "1",
            "--slo-ttft-p95-ms",
            "3000",
            "--slo-error-rate-percent",
            "5",
            "--slo-min-tokens-per-second",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in completed.stderr.splitlines() if line.startswith("[chatfleet] ")]
    assert len(lines) >= 2, completed.stderr[-3000:]
    last = lines[-1]
    assert re.search(r"users=2 req/s=[\d.]+ requests=\d+ ttft_p95=\d+ ms errors=0 \(0\.0%\)", last), last
