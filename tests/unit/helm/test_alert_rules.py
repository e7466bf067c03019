"""The chart's alert rules, as `helm template` renders them, unit-tested with `promtool test rules`.

Each case feeds synthetic series (promtool's expanding notation, one sample a minute) and states which
alerts fire at a given time, through the `ALERTS` series promtool evaluates; one case also pins the full
rendered annotations, so a broken template shows up as text, not as a silent empty field.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

Manifest = dict[str, Any]
APP = {"namespace": "team-a", "app": "support-bot"}
CHAT = {**APP, "pod": "support-bot-7f9c-x", "route": "/chat/stream", "tenant": "contoso"}


@pytest.fixture(scope="session")
def promtool() -> Path:
    """promtool built from tools/prometheus through the Go module proxy (a no-op when current)."""
    from chatfleet.devcluster.tools import ensure_built

    return ensure_built(["promtool"])["promtool"]


def _series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    rendered = ",".join(f'{key}="{value}"' for key, value in labels.items())
    return {"series": f"{name}{{{rendered}}}", "values": values}


def _turns(
    per_minute: int, slow_per_minute: int, minutes: int, threshold: str = "2.0"
) -> list[dict[str, str]]:
    """TTFT histogram of `per_minute` turns a minute, `slow_per_minute` of them slower than the threshold."""
    return [
        _series(
            "chatfleet_ttft_seconds_bucket",
            {**CHAT, "le": threshold},
            f"0+{per_minute - slow_per_minute}x{minutes}",
        ),
        _series("chatfleet_ttft_seconds_bucket", {**CHAT, "le": "+Inf"}, f"0+{per_minute}x{minutes}"),
        _series("chatfleet_ttft_seconds_count", CHAT, f"0+{per_minute}x{minutes}"),
    ]


def _requests(ok_per_minute: int, failed_per_minute: int, minutes: int) -> list[dict[str, str]]:
    labels = {key: CHAT[key] for key in ("namespace", "app", "pod", "route")}
    series = [_series("chatfleet_requests_total", {**labels, "code": "200"}, f"0+{ok_per_minute}x{minutes}")]
    if failed_per_minute:
        series.append(
            _series("chatfleet_requests_total", {**labels, "code": "503"}, f"0+{failed_per_minute}x{minutes}")
        )
    # Probes are not chat traffic: their 5xx while a pod starts must not count against the SLO.
    series.append(
        _series("chatfleet_requests_total", {**labels, "route": "/readyz", "code": "503"}, f"0+50x{minutes}")
    )
    return series


def _firing(alertname: str, severity: str, **labels: str) -> dict[str, Any]:
    every = {"alertname": alertname, "alertstate": "firing", "severity": severity, **APP, **labels}
    rendered = ",".join(f'{key}="{value}"' for key, value in every.items())
    return {"labels": f"ALERTS{{{rendered}}}", "value": 1}


def _case(series: list[dict[str, str]], at: str, expect: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """One promtool test: at `at`, exactly the listed alerts of each named alert are firing."""
    return {
        "interval": "1m",
        "input_series": series,
        "promql_expr_test": [
            {
                "expr": f'ALERTS{{alertname="{name}",alertstate="firing"}}',
                "eval_time": at,
                "exp_samples": samples,
            }
            for name, samples in expect.items()
        ],
    }


def _run(promtool: Path, rules: list[Manifest], cases: list[dict[str, Any]], tmp_path: Path) -> str:
    (rule,) = [doc for doc in rules if doc["kind"] == "PrometheusRule"]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule["spec"], sort_keys=False))
    check = subprocess.run(
        [str(promtool), "check", "rules", "rules.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    tests = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": cases}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run(
        [str(promtool), "test", "rules", "tests.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def alert_rules(render: Callable[..., list[Manifest]]) -> list[Manifest]:
    return render({"metrics.alerts.enabled": True})


def test_ttft_burn_pages_on_a_fast_burn_and_stays_quiet_within_the_objective(
    promtool: Path, alert_rules: list[Manifest], tmp_path: Path
) -> None:
    fast, slow = "ChatTTFTSLOBurnFast", "ChatTTFTSLOBurnSlow"
    cases = [
        # 20% of turns slow against a 1% budget: 20x burn pages within the hour, and opens a ticket.
        _case(
            _turns(100, 20, 120), "70m", {fast: [_firing(fast, "critical")], slow: [_firing(slow, "warning")]}
        ),
        # 0.5% slow: half the budget's pace, nothing fires.
        _case(_turns(200, 1, 240), "4h", {fast: [], slow: []}),
        # A short spike (10 minutes of 50% slow turns after 400 healthy minutes) pages no one: the 1h
        # window stays under 14.4x and the 6h window under 6x, although the 30m window alone is over 6x.
        _case(
            [
                _series(
                    "chatfleet_ttft_seconds_bucket",
                    {**CHAT, "le": "2.0"},
                    "0+100x400 40050+50x9 40600+100x30",
                ),
                _series("chatfleet_ttft_seconds_count", CHAT, "0+100x440"),
            ],
            "430m",
            {fast: []},
        ),
    ]
    _run(promtool, alert_rules, cases, tmp_path)


def test_fast_burn_annotations_render_the_app_the_share_and_the_objective(
    promtool: Path, alert_rules: list[Manifest], tmp_path: Path
) -> None:
    case = {
        "interval": "1m",
        "input_series": _turns(100, 20, 120),
        "alert_rule_test": [
            {
                "eval_time": "70m",
                "alertname": "ChatTTFTSLOBurnFast",
                "exp_alerts": [
                    {
                        "exp_labels": {"severity": "critical", **APP},
                        "exp_annotations": {
                            "summary": "support-bot: turns slower than 2.0 s to their first token burn the "
                            "30-day error budget fast",
                            "description": "20% of turns slower than 2.0 s to their first token in "
                            "team-a/support-bot; the objective allows 1%: at this rate the month's budget is "
                            "gone within two days.",
                            "runbook_url": "https://github.com/chatfleet/chatfleet/blob/main/docs/runbook.md"
                            "#chatttftsloburnfast",
                        },
                    }
                ],
            }
        ],
    }
    _run(promtool, alert_rules, [case], tmp_path)


def test_ttft_threshold_and_objective_come_from_the_values(
    promtool: Path, render: Callable[..., list[Manifest]], tmp_path: Path
) -> None:
    rules = render(
        {
            "metrics.alerts.enabled": True,
            "metrics.alerts.ttft": {"thresholdSeconds": "1.0", "objective": 0.999},
        }
    )
    fast = "ChatTTFTSLOBurnFast"
    # 2% of turns over 1 s: within a 99% objective, but 20x the budget of a 99.9% one.
    _run(
        promtool,
        rules,
        [_case(_turns(100, 2, 120, threshold="1.0"), "70m", {fast: [_firing(fast, "critical")]})],
        tmp_path,
    )


def test_error_burn_counts_chat_routes_only(
    promtool: Path, alert_rules: list[Manifest], tmp_path: Path
) -> None:
    fast = "ChatErrorSLOBurnFast"
    cases = [
        # 2% of chat requests fail against a 0.1% budget.
        _case(_requests(98, 2, 120), "70m", {fast: [_firing(fast, "critical")]}),
        # No chat request fails; the failing readiness probes are not chat traffic.
        _case(_requests(100, 0, 120), "70m", {fast: []}),
    ]
    _run(promtool, alert_rules, cases, tmp_path)


def test_error_ratio_is_zero_not_absent_before_the_first_failure(
    promtool: Path, alert_rules: list[Manifest], tmp_path: Path
) -> None:
    case = {
        "interval": "1m",
        "input_series": _requests(100, 0, 30),
        "promql_expr_test": [
            {
                "expr": "chatfleet:errors:ratio_rate5m",
                "eval_time": "20m",
                "exp_samples": [
                    {
                        "labels": "chatfleet:errors:ratio_rate5m{"
                        + ",".join(f'{k}="{v}"' for k, v in APP.items())
                        + "}",
                        "value": 0,
                    }
                ],
            }
        ],
    }
    _run(promtool, alert_rules, [case], tmp_path)


def test_upstream_alerts(promtool: Path, alert_rules: list[Manifest], tmp_path: Path) -> None:
    upstream = {**APP, "pod": "support-bot-7f9c-x"}
    throttled, breaker, budget = (
        "ChatAllDeploymentsThrottled",
        "ChatDeploymentBreakerOpen",
        "ChatTenantBudgetExhausted",
    )

    def calls(deployment: str, outcome: str, values: str) -> dict[str, str]:
        return _series(
            "chatfleet_upstream_requests_total",
            {**upstream, "deployment": deployment, "outcome": outcome},
            values,
        )

    cases = [
        # Both deployments answer only 429s: page after 5 minutes.
        _case(
            [
                calls("gpt-ptu", "throttled", "0+30x30"),
                calls("gpt-paygo", "throttled", "0+30x30"),
                calls("gpt-paygo", "success", "100x30"),
            ],
            "20m",
            {throttled: [_firing(throttled, "critical")]},
        ),
        # One deployment still answers: the router is doing its job, nobody is paged.
        _case(
            [calls("gpt-ptu", "throttled", "0+30x30"), calls("gpt-paygo", "success", "0+30x30")],
            "20m",
            {throttled: []},
        ),
        # An open breaker for 15 minutes opens a ticket; a half-open one (1) does not.
        _case(
            [
                _series("chatfleet_upstream_breaker_state", {**upstream, "deployment": "gpt-ptu"}, "2x30"),
                _series("chatfleet_upstream_breaker_state", {**upstream, "deployment": "gpt-paygo"}, "1x30"),
            ],
            "15m",
            {breaker: [_firing(breaker, "warning", deployment="gpt-ptu")]},
        ),
        # A tenant refused for its budget for 20 minutes; another refused for other reasons is not.
        _case(
            [
                _series(
                    "chatfleet_turn_problems_total",
                    {**upstream, "tenant": "contoso", "problem": "rate-limited"},
                    "0+5x30",
                ),
                _series(
                    "chatfleet_turn_problems_total",
                    {**upstream, "tenant": "fabrikam", "problem": "input-rejected"},
                    "0+5x30",
                ),
            ],
            "25m",
            {budget: [_firing(budget, "warning", tenant="contoso")]},
        ),
    ]
    _run(promtool, alert_rules, cases, tmp_path)


def test_no_rules_unless_enabled(render: Callable[..., list[Manifest]]) -> None:
    assert not [doc for doc in render() if doc["kind"] == "PrometheusRule"]


def test_threshold_must_be_a_histogram_bucket(rejection: Callable[[dict[str, Any]], str]) -> None:
    message = rejection({"metrics.alerts.ttft": {"thresholdSeconds": "1.7", "objective": 0.99}})
    assert "thresholdSeconds" in message


def test_gate_failed_fires_for_the_window_after_a_rollback_also_the_first_one(
    promtool: Path, alert_rules: list[Manifest], tmp_path: Path
) -> None:
    gate = "ChatGateFailed"
    operator = {"namespace": "team-a", "app": "support-bot", "pod": "chatfleet-operator-0"}

    def outcomes(result: str, reason: str, values: str) -> dict[str, str]:
        return _series(
            "chatfleet_operator_gate_outcomes_total", {**operator, "result": result, "reason": reason}, values
        )

    cases = [
        # The app's first failure after the operator started: the series appears at 1 (minute 10).
        _case(
            [outcomes("failed", "BakeFailed", "_x10 1x40")],
            "15m",
            {gate: [_firing(gate, "warning", reason="BakeFailed")]},
        ),
        # ... and is forgotten once the 30-minute window has passed.
        _case([outcomes("failed", "BakeFailed", "_x10 1x40")], "45m", {gate: []}),
        # A second failure of a known series; passed gates never fire.
        _case(
            [outcomes("failed", "SLOFailed", "1x20 2x20"), outcomes("passed", "SLOsMet", "_x5 1x35")],
            "30m",
            {gate: [_firing(gate, "warning", reason="SLOFailed")]},
        ),
    ]
    _run(promtool, alert_rules, cases, tmp_path)
