"""SLO verdicts: each names the SLO, its limit and the measured value; the run passes only if all hold."""

import json

import pytest

from chatfleet.contracts.loadtest import SUMMARY_KEYS, Slo
from chatfleet.loadtests.summary import build_summary, empty_measurement, render_table

SLO = Slo(ttft_p95_ms=1500, error_rate_percent=1, min_tokens_per_second=20)


def measurement(**overrides: object) -> dict:
    base = {
        "startedAt": "2026-11-24T19:00:00Z",
        "finishedAt": "2026-11-24T19:00:30Z",
        "durationSeconds": 30.0,
        "requests": 600,
        "failures": 3,
        "outputTokens": 60_000,
        "ttftMs": {"p50": 400.0, "p90": 900.0, "p95": 1100.0, "p99": 1400.0},
        "latencyMs": {"p50": 2000.0, "p95": 3000.0, "p99": 4000.0},
        "streamTokensPerSecond": {"p10": 40.0, "p50": 55.0},
        "failuresByKind": {"http 503": 3},
        "tenantLeaks": {"count": 0, "examples": []},
    }
    base.update(overrides)
    return base


def summarize(m: dict, scenario: str = "steady") -> dict:
    return build_summary(m, SLO, scenario=scenario, host="http://127.0.0.1:1", users=20, run_time_seconds=30)


def test_passing_run_has_every_key_and_derived_rates() -> None:
    summary = summarize(measurement())
    assert set(SUMMARY_KEYS) <= set(summary)
    assert summary["passed"] is True
    assert summary["errorRatePercent"] == 0.5
    assert summary["requestsPerSecond"] == 20.0
    assert summary["tokensPerSecond"] == 2000.0
    assert {v["slo"] for v in summary["verdicts"]} == {
        "ttftP95Ms",
        "errorRatePercent",
        "minTokensPerSecond",
        "tenantIsolation",
    }
    json.dumps(summary)  # serializable as is


@pytest.mark.parametrize(
    ("override", "failing_slo", "measured"),
    [
        ({"ttftMs": {"p50": 900.0, "p90": 1700.0, "p95": 2100.0, "p99": 2500.0}}, "ttftP95Ms", 2100.0),
        ({"failures": 12}, "errorRatePercent", 2.0),
        ({"streamTokensPerSecond": {"p10": 5.0, "p50": 12.5}}, "minTokensPerSecond", 12.5),
        (
            {"tenantLeaks": {"count": 2, "examples": ["contoso user was shown cited a.md"]}},
            "tenantIsolation",
            2,
        ),
    ],
)
def test_each_broken_slo_fails_with_its_measured_value(
    override: dict, failing_slo: str, measured: float
) -> None:
    summary = summarize(measurement(**override))
    assert summary["passed"] is False
    bad = [v for v in summary["verdicts"] if not v["passed"]]
    assert [(v["slo"], v["measured"]) for v in bad] == [(failing_slo, measured)]
    table = render_table(summary)
    assert f"FAILED: {failing_slo} measured" in table


def test_limits_are_inclusive() -> None:
    exact = measurement(
        ttftMs={"p50": 1.0, "p90": 1.0, "p95": 1500.0, "p99": 1.0},
        failures=6,
        streamTokensPerSecond={"p10": 1.0, "p50": 20.0},
    )
    assert summarize(exact)["passed"] is True


def test_no_requests_fails_with_no_data() -> None:
    summary = summarize(empty_measurement("2026-11-24T19:00:00Z"))
    assert summary["passed"] is False
    assert summary["errorRatePercent"] is None
    assert "no data" in render_table(summary)


def test_failover_without_an_injected_fault_fails() -> None:
    never = summarize(
        measurement(faults={"injected": [], "errors": ["fault injection failed: refused"]}), "failover"
    )
    assert [v["slo"] for v in never["verdicts"] if not v["passed"]] == ["faultInjected"]
    done = summarize(
        measurement(
            faults={"injected": [{"deployment": "east", "kind": "error", "atSeconds": 3}], "errors": []}
        ),
        "failover",
    )
    assert done["passed"] is True
    assert done["faults"]["injected"][0]["deployment"] == "east"


def test_table_names_failure_kinds_and_leaks() -> None:
    summary = summarize(
        measurement(
            failuresByKind={"tenant leak": 1, "truncated stream": 2},
            tenantLeaks={"count": 1, "examples": ["contoso user was shown cited thermostat-install.md"]},
        )
    )
    table = render_table(summary)
    assert "truncated stream: 2" in table
    assert "tenant leak: contoso user was shown cited thermostat-install.md" in table
