"""The run's verdict: per-case results, metric averages, thresholds checked, as a table and a JSON report.

The JSON report is what `chatfleet eval compare` reads and what an auditor keeps: every case with the
answer, the sources retrieved and cited, and its scores; the averages; the thresholds and which failed;
the prompt versions and deployments that produced the answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from chatfleet.contracts.evaluation import JUDGE_METRICS, JUDGE_SCALE, LATENCY_METRICS, SCORE_METRICS

RATED_METRICS = SCORE_METRICS + JUDGE_METRICS  # per-case scores, averaged over the cases they apply to
ALL_METRICS = RATED_METRICS + LATENCY_METRICS
SHOWN_WEAK_CASES = 10  # the table lists this many cases that lost points; the report has them all


class ThresholdError(ValueError):
    """A `--min`/`--max` that cannot be checked (unknown metric, not a number, out of range)."""


@dataclass(frozen=True)
class Threshold:
    metric: str
    bound: str  # "min" | "max"
    value: float

    @classmethod
    def parse(cls, text: str, bound: str) -> Threshold:
        """`groundedness=0.8` (with --min) or `ttft_p95_ms=2000` (with --max)."""
        name, sep, raw = text.partition("=")
        name = name.strip()
        allowed = RATED_METRICS if bound == "min" else LATENCY_METRICS
        if not sep or name not in allowed:
            raise ThresholdError(
                f"--{bound} {text!r}: expected METRIC=VALUE with METRIC one of {', '.join(allowed)}"
            )
        try:
            value = float(raw)
        except ValueError:
            raise ThresholdError(f"--{bound} {text!r}: {raw!r} is not a number") from None
        low, high = JUDGE_SCALE if name in JUDGE_METRICS else (0, 1 if bound == "min" else math.inf)
        if not math.isfinite(value) or not low <= value <= high:
            limit = f"between {low:g} and {high:g}" if math.isfinite(high) else f"{low:g} or more"
            raise ThresholdError(f"--{bound} {text!r}: the value must be {limit}")
        return cls(name, bound, value)

    def holds(self, actual: float | None, unscored: int = 0) -> bool:
        if actual is None or unscored:
            return False  # no case measured it, or the judge left cases unscored: not a pass on part
        return actual >= self.value if self.bound == "min" else actual <= self.value

    def describe(self, actual: float | None, unscored: int = 0) -> str:
        shown = "not measured" if actual is None else f"{actual:.3f}"
        sign = ">=" if self.bound == "min" else "<="
        also = f"; {unscored} case{'s' if unscored > 1 else ''} unscored by the judge" if unscored else ""
        return f"{self.metric} {shown} (needs {sign} {self.value:g}{also})"


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return round(sum(kept) / len(kept), 4) if kept else None


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def aggregate(cases: list[dict[str, Any]]) -> dict[str, float | None]:
    """Metric averages and latency percentiles over the case results."""
    metrics: dict[str, float | None] = {m: _mean([c["metrics"].get(m) for c in cases]) for m in RATED_METRICS}
    ttft = [c["ttftMs"] for c in cases if c["ttftMs"] is not None]
    total = [c["latencyMs"] for c in cases if c["error"] is None]
    metrics["ttft_p50_ms"] = _percentile(ttft, 50)
    metrics["ttft_p95_ms"] = _percentile(ttft, 95)
    metrics["latency_p50_ms"] = _percentile(total, 50)
    metrics["latency_p95_ms"] = _percentile(total, 95)
    return metrics


def verdict(
    metrics: dict[str, float | None],
    thresholds: list[Threshold],
    unscored: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    """One entry per threshold, with the actual value and whether it held. `unscored`: per judge metric,
    the cases the judge could not rate; any fails that metric's threshold (the mean covers only part)."""
    missing = unscored or {}
    checks = []
    for t in thresholds:
        actual, left = metrics.get(t.metric), missing.get(t.metric, 0)
        check = {
            "metric": t.metric,
            "bound": t.bound,
            "threshold": t.value,
            "actual": actual,
            "passed": t.holds(actual, left),
            "message": t.describe(actual, left),
        }
        if left:
            check["unscored"] = left
        checks.append(check)
    return checks


def _cell(value: float | None, width: int) -> str:
    return f"{'-' if value is None else f'{value:.3f}':>{width}}"


def _shortfall(case: dict[str, Any]) -> str:
    """What a case lost, e.g. `mrr 0.500, correctness 0.571`, or its error."""
    if case["error"]:
        return str(case["error"])
    lost = [
        (m, v)
        for m, v in case["metrics"].items()
        if v is not None and v < (JUDGE_SCALE[1] if m in JUDGE_METRICS else 1)
    ]
    return ", ".join(f"{m} {v:g}" if m in JUDGE_METRICS else f"{m} {v:.3f}" for m, v in lost)


def render_table(report: dict[str, Any]) -> str:
    """Human summary: one row per metric with its threshold, then the failed thresholds."""
    checks = {c["metric"]: c for c in report["thresholds"]}
    lines = [f"eval set {report['set']} against {report['host']}: {len(report['cases'])} cases", ""]
    lines.append(f"{'metric':<20} {'value':>10}  threshold")
    judge = report.get("judge")
    for name in ALL_METRICS:
        if name in JUDGE_METRICS and not judge:
            continue  # no judge this run: its rows would only say "-"
        check = checks.get(name)
        mark = ""
        if check is not None:
            sign = ">=" if check["bound"] == "min" else "<="
            mark = f"{sign} {check['threshold']:g}  {'ok' if check['passed'] else 'FAILED'}"
        lines.append(f"{name:<20} {_cell(report['metrics'][name], 10)}  {mark}".rstrip())
    weak = [(c["id"], _shortfall(c)) for c in report["cases"]]
    weak = [(case_id, why) for case_id, why in weak if why]
    if weak:
        lines.append("")
        lines.append(f"{len(weak)} cases lost points:")
        lines.extend(f"  {case_id}: {why}" for case_id, why in weak[:SHOWN_WEAK_CASES])
        if len(weak) > SHOWN_WEAK_CASES:
            lines.append(f"  ... and {len(weak) - SHOWN_WEAK_CASES} more (see the JSON report)")
    if judge:
        prompts = ", ".join(f"{pid}@{version}" for pid, version in judge["prompts"].items())
        lines.append("")
        lines.append(f"judge: deployment {judge['deployment']} ({prompts})")
        if judge["unscored"]:
            lines.append(f"{len(judge['unscored'])} judge ratings unscored (left out of the means):")
            lines.extend(f"  {u['id']}: {u['metric']}: {u['error']}" for u in judge["unscored"])
    lines.append("")
    failed = [c["message"] for c in report["thresholds"] if not c["passed"]]
    lines.append("PASSED" if report["passed"] else "FAILED: " + "; ".join(failed))
    return "\n".join(lines)
