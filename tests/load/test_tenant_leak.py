"""A service whose retriever ignores the tenant fails the multi-tenant scenario, naming the leak."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.load

LAUNCHER = Path(__file__).with_name("tenant_blind_service.py")


def test_leaking_tenant_filter_fails_multi_tenant(
    simulator: str, processes: Any, loadtest: Any, passing_slo: list[str]
) -> None:
    command = [sys.executable, str(LAUNCHER), "--port", "0", "--dev"]
    with processes.serving(command, processes.service_env(simulator)) as leaky_service:
        processes.warm_up(leaky_service)
        run = loadtest(
            leaky_service, "--scenario", "multi-tenant", "--users", "4", "--run-time", "4s", *passing_slo
        )  # fmt: skip
    assert run.code == 1, run.stdout
    leaks = run.summary["tenantLeaks"]
    assert leaks["count"] > 0
    assert run.summary["failuresByKind"]["tenant leak"] == leaks["count"]
    example = leaks["examples"][0]
    assert example.startswith(("contoso user was shown", "fabrikam user was shown"))
    isolation = next(v for v in run.summary["verdicts"] if v["slo"] == "tenantIsolation")
    assert isolation == {"slo": "tenantIsolation", "limit": 0, "measured": leaks["count"], "passed": False}
    assert "tenant leak:" in run.stdout
    assert run.termination["passed"] is False
