"""The operator's metrics as the reconcile path records them (the live test scrapes them over HTTP)."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from chatfleet.controller import metrics


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_outcomes_errors_and_duration_are_counted() -> None:
    ok, errors = (
        sample("chatfleet_operator_reconciles_total", outcome="ok"),
        sample("chatfleet_operator_reconciles_total", outcome="error"),
    )
    runs = sample("chatfleet_operator_reconcile_duration_seconds_count")
    assert metrics.observe_reconcile(lambda: "ok") == "ok"

    def refused() -> str:
        raise ConnectionResetError("API server went away")

    with pytest.raises(ConnectionResetError):
        metrics.observe_reconcile(refused)
    assert sample("chatfleet_operator_reconciles_total", outcome="ok") == ok + 1
    assert sample("chatfleet_operator_reconciles_total", outcome="error") == errors + 1
    assert sample("chatfleet_operator_reconcile_errors_total", error="ConnectionResetError") >= 1
    assert sample("chatfleet_operator_reconcile_duration_seconds_count") == runs + 2
    assert sample("chatfleet_operator_reconciles_in_flight") == 0


def test_queue_depth_counts_waits_and_gate_outcomes_by_reason() -> None:
    before = sample("chatfleet_operator_queue_depth")
    with metrics.queued(), metrics.queued():
        assert sample("chatfleet_operator_queue_depth") == before + 2
    assert sample("chatfleet_operator_queue_depth") == before
    app = {"namespace": "team-a", "app": "bot"}
    failed = sample("chatfleet_operator_gate_outcomes_total", **app, result="failed", reason="SloFailed")
    metrics.gate_outcome("team-a", "bot", False, "SloFailed")
    metrics.gate_outcome("team-a", "bot", True, "Passed")
    assert (
        sample("chatfleet_operator_gate_outcomes_total", **app, result="failed", reason="SloFailed")
        == failed + 1
    )
    assert sample("chatfleet_operator_gate_outcomes_total", **app, result="passed", reason="Passed") >= 1
