"""Short real Locust runs against the real chat service and simulator: the verdicts the gate acts on."""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

pytestmark = pytest.mark.load


def test_passing_slo_exits_0_with_ttft_and_tps_rows(
    chat_service: str, loadtest: Any, passing_slo: list[str], tmp_path: Path
) -> None:
    run = loadtest(
        chat_service, "--scenario", "steady", "--users", "4", "--run-time", "4s", *passing_slo,
        "--csv", str(tmp_path / "stats"),
    )  # fmt: skip
    assert run.code == 0, run.stdout
    summary = run.summary
    assert summary["passed"] is True
    assert summary["requests"] >= 4
    assert summary["failures"] == 0
    assert summary["ttftMs"]["p95"] > 0
    assert summary["tokensPerSecond"] > 0
    assert summary["streamTokensPerSecond"]["p50"] > 5
    assert "PASSED" in run.stdout
    assert run.termination["passed"] is True
    with (tmp_path / "stats_stats.csv").open() as rows:
        types = {row["Type"] for row in csv.DictReader(rows)}
    assert {"POST", "TTFT", "TPS"} <= types


def test_slow_simulator_breaks_ttft_slo_exit_1_naming_the_figure(
    simulator_admin: Any, chat_service: str, loadtest: Any
) -> None:
    simulator_admin.set_faults({"added_latency_ms": 1200})
    try:
        run = loadtest(
            chat_service, "--scenario", "steady", "--users", "3", "--run-time", "4s",
            "--slo-ttft-p95-ms", "800", "--slo-error-rate-percent", "1", "--slo-min-tokens-per-second", "5",
        )  # fmt: skip
    finally:
        simulator_admin.clear_faults()
    assert run.code == 1, run.stdout
    failed = [v for v in run.summary["verdicts"] if not v["passed"]]
    assert [v["slo"] for v in failed] == ["ttftP95Ms"]
    assert failed[0]["measured"] >= 1200
    assert f"FAILED: ttftP95Ms measured {failed[0]['measured']:,.1f} (limit 800.0)" in run.stdout
    assert run.termination["verdicts"] == run.summary["verdicts"]


@pytest.mark.parametrize("kind", ["error", "throttle"])
def test_failover_passes_with_one_faulty_upstream_of_three(
    simulator: str,
    simulator_admin: Any,
    chat_service: str,
    loadtest: Any,
    passing_slo: list[str],
    upstream_names: tuple[str, ...],
    kind: str,
) -> None:
    before = simulator_admin.deployments()
    run = loadtest(
        chat_service, "--scenario", "failover", "--users", "4", "--run-time", "6s", *passing_slo,
        "--simulator-admin", simulator, "--fault-kind", kind,
    )  # fmt: skip
    assert run.code == 0, run.stdout
    injected = run.summary["faults"]["injected"]
    assert len(injected) == 1
    broken = injected[0]["deployment"]
    assert broken in upstream_names
    after = simulator_admin.deployments()
    refused = "503" if kind == "error" else "429"
    refused_before = before.get(broken, {}).get("responses", {}).get(refused, 0)
    assert after[broken]["responses"].get(refused, 0) > refused_before  # the fault really hit traffic
    assert after[broken]["faults"]["error_rate"] == 0.0  # and was restored at the end
    assert not after[broken]["faults"]["force_429"]
    assert run.summary["failures"] == 0


def test_multi_tenant_on_the_real_service_has_no_leak(
    chat_service: str, loadtest: Any, passing_slo: list[str]
) -> None:
    run = loadtest(
        chat_service, "--scenario", "multi-tenant", "--users", "4", "--run-time", "4s", *passing_slo
    )
    assert run.code == 0, run.stdout
    assert run.summary["tenantLeaks"]["count"] == 0


def test_spike_reaches_five_times_the_users_and_stops_by_itself(
    chat_service: str, loadtest: Any, passing_slo: list[str]
) -> None:
    run = loadtest(chat_service, "--scenario", "spike", "--users", "2", "--run-time", "6s", *passing_slo)
    assert run.code == 0, run.stdout
    assert run.summary["peakUsers"] == 10


def test_long_answers_ask_the_long_conversations(
    chat_service: str, loadtest: Any, passing_slo: list[str]
) -> None:
    run = loadtest(
        chat_service, "--scenario", "long-answers", "--users", "2", "--run-time", "3s", *passing_slo
    )
    assert run.code == 0, run.stdout
    assert run.summary["requests"] >= 2


def test_cancelled_run_stops_its_locust_process(chat_service: str, passing_slo: list[str]) -> None:
    """The operator cancels superseded gates with SIGTERM; no Locust may keep loading the target."""
    cli = subprocess.Popen(
        [sys.executable, "-m", "chatfleet", "loadtest", "--host", chat_service, "--users", "2",
         "--run-time", "60s", *passing_slo],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        children: list[psutil.Process] = []
        while not children and time.monotonic() < deadline:
            children = psutil.Process(cli.pid).children(recursive=True)
            time.sleep(0.2)
        assert children, "the CLI never started Locust"
        time.sleep(2)
        cli.terminate()
        assert cli.wait(20) != 0
        _gone, alive = psutil.wait_procs(children, timeout=15)
        assert not alive
    finally:
        if cli.poll() is None:
            cli.kill()
