"""Turns one load run's measurements into the JSON summary and the SLO verdicts that gate a rollout.

Pure functions over plain dicts: the Locust process measures, this module judges, so the verdict rules
are the same for the CLI, the operator's Job and distributed runs, and are unit-tested without Locust.
"""

from __future__ import annotations

from typing import Any

from chatfleet.contracts.loadtest import Slo


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 3) if denominator > 0 else None


def _verdict(slo: str, limit: float, measured: float | None, *, at_most: bool) -> dict[str, Any]:
    within = measured is not None and (measured <= limit if at_most else measured >= limit)
    passed = bool(within)
    return {"slo": slo, "limit": limit, "measured": measured, "passed": passed}


def verdicts(measurement: dict[str, Any], slo: Slo, scenario: str) -> list[dict[str, Any]]:
    """One verdict per SLO, each with the measured value; tenant isolation is always an SLO, and a
    failover run that never managed to break an upstream proves nothing, so it fails too."""
    requests = measurement["requests"]
    error_rate = _ratio(measurement["failures"] * 100.0, requests)
    leaks = measurement.get("tenantLeaks", {}).get("count", 0)
    judged = [
        _verdict("ttftP95Ms", slo.ttft_p95_ms, measurement["ttftMs"].get("p95"), at_most=True),
        _verdict("errorRatePercent", slo.error_rate_percent, error_rate, at_most=True),
        _verdict(
            "minTokensPerSecond",
            slo.min_tokens_per_second,
            measurement["streamTokensPerSecond"].get("p50"),
            at_most=False,
        ),
        _verdict("tenantIsolation", 0, leaks, at_most=True),
    ]
    if scenario == "failover":
        faults = measurement.get("faults", {})
        injected = len(faults.get("injected", [])) if not faults.get("errors") else 0
        judged.append(_verdict("faultInjected", 1, injected, at_most=False))
    return judged


def empty_measurement(at: str) -> dict[str, Any]:
    """The measurement of a run that never reached the target: every SLO then fails with 'no data'."""
    return {
        "startedAt": at,
        "finishedAt": at,
        "durationSeconds": 0.0,
        "requests": 0,
        "failures": 0,
        "outputTokens": 0,
        "ttftMs": dict.fromkeys(("p50", "p90", "p95", "p99")),
        "latencyMs": dict.fromkeys(("p50", "p95", "p99")),
        "streamTokensPerSecond": dict.fromkeys(("p10", "p50")),
    }


def build_summary(
    measurement: dict[str, Any],
    slo: Slo,
    *,
    scenario: str,
    host: str,
    users: int,
    run_time_seconds: float,
) -> dict[str, Any]:
    """The summary the CLI writes with --json and the operator copies into status.loadTest."""
    duration = measurement["durationSeconds"]
    judged = verdicts(measurement, slo, scenario)
    summary: dict[str, Any] = {
        "scenario": scenario,
        "host": host,
        "users": users,
        "runTimeSeconds": run_time_seconds,
        "startedAt": measurement["startedAt"],
        "finishedAt": measurement["finishedAt"],
        "requests": measurement["requests"],
        "failures": measurement["failures"],
        "errorRatePercent": _ratio(measurement["failures"] * 100.0, measurement["requests"]),
        "requestsPerSecond": _ratio(measurement["requests"], duration),
        "tokensPerSecond": _ratio(measurement["outputTokens"], duration),
        "ttftMs": measurement["ttftMs"],
        "latencyMs": measurement["latencyMs"],
        "slo": slo.as_json(),
        "verdicts": judged,
        "passed": all(v["passed"] for v in judged),
        "peakUsers": measurement.get("peakUsers"),
        "streamTokensPerSecond": measurement["streamTokensPerSecond"],
        "outputTokens": measurement["outputTokens"],
        "failuresByKind": measurement.get("failuresByKind", {}),
        "tenantLeaks": measurement.get("tenantLeaks", {"count": 0, "examples": []}),
    }
    if measurement.get("faults"):
        summary["faults"] = measurement["faults"]
    return summary


def failing(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in summary["verdicts"] if not v["passed"]]


def _figure(value: Any) -> str:
    if value is None:
        return "no data"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def render_table(summary: dict[str, Any]) -> str:
    """A verdict table an SRE reads at a glance; failing SLOs are named with their measured value."""
    comparison = {"minTokensPerSecond": ">=", "faultInjected": ">="}
    ttft = summary["ttftMs"]
    lines = [
        f"scenario {summary['scenario']} against {summary['host']}: {summary['requests']} requests, "
        f"{summary['failures']} failed, {_figure(summary['requestsPerSecond'])} req/s, "
        f"{_figure(summary['tokensPerSecond'])} tokens/s",
        f"TTFT ms p50/p95/p99: {_figure(ttft.get('p50'))} / {_figure(ttft.get('p95'))}"
        f" / {_figure(ttft.get('p99'))}",
        "",
        f"{'SLO':<22}{'limit':>14}{'measured':>14}  verdict",
    ]
    for v in summary["verdicts"]:
        limit = f"{comparison.get(v['slo'], '<=')} {_figure(v['limit'])}"
        lines.append(
            f"{v['slo']:<22}{limit:>14}{_figure(v['measured']):>14}  {'PASS' if v['passed'] else 'FAIL'}"
        )
    if summary["failuresByKind"]:
        kinds = ", ".join(f"{kind}: {n}" for kind, n in sorted(summary["failuresByKind"].items()))
        lines.append(f"\nfailures by kind: {kinds}")
    for leak in summary["tenantLeaks"].get("examples", [])[:5]:
        lines.append(f"tenant leak: {leak}")
    bad = failing(summary)
    if bad:
        named = "; ".join(
            f"{v['slo']} measured {_figure(v['measured'])} (limit {_figure(v['limit'])})" for v in bad
        )
        lines.append(f"\nFAILED: {named}")
    else:
        lines.append("\nPASSED: every SLO holds")
    return "\n".join(lines)


def render_calibration(calibration: dict[str, Any]) -> str:
    """The stepped load as a table, then the knee and the recommendation."""
    lines = [f"\n{'users':>6}{'TTFT p50':>10}{'TTFT p95':>10}{'req/s':>8}{'errors %':>10}"]
    for step in calibration["steps"]:
        lines.append(
            f"{step['users']:>6}{_figure(step.get('ttftP50Ms')):>10}{_figure(step.get('ttftP95Ms')):>10}"
            f"{_figure(step.get('requestsPerSecond')):>8}{_figure(step.get('errorRatePercent')):>10}"
        )
    lines.append(
        f"calibration: knee at {_figure(calibration['kneeConcurrency'])} concurrent streams -> "
        f"streamsPerReplica {calibration['streamsPerReplica']} ({calibration['method']})"
    )
    return "\n".join(lines)
