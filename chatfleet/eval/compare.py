"""`chatfleet eval compare BASE NEW`: what got worse between two runs of the same eval set, case by case,
and how every metric moved (the judge's too, when a run had one). Per-case latency is left out of
regressions: one turn's timing is noise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chatfleet.contracts.evaluation import JUDGE_METRICS, LATENCY_METRICS
from chatfleet.eval.report import ALL_METRICS, RATED_METRICS

TOLERANCE = 1e-3  # below this a score change is rounding, not a regression
LATENCY_TOLERANCE = 0.10  # a latency percentile is worse only when it rose by more than this share


class ReportError(ValueError):
    """A file that is not an eval report."""


def load_report(path: Path) -> dict[str, Any]:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ReportError(f"{path}: {error.strerror or error}") from None
    except (ValueError, UnicodeDecodeError):
        raise ReportError(f"{path}: not JSON") from None
    if not isinstance(report, dict) or not isinstance(report.get("cases"), list) or "metrics" not in report:
        raise ReportError(f"{path}: not a `chatfleet eval run --json` report")
    return report


def compare(base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Metric deltas (new - base), per-case regressions, and the cases only one run has."""
    deltas = []
    for name in ALL_METRICS:
        before, after = base["metrics"].get(name), new["metrics"].get(name)
        if name in JUDGE_METRICS and before is None and after is None:
            continue  # neither run had a judge
        change = None if before is None or after is None else round(after - before, 4)
        if change is None:
            worse = False
        elif name in LATENCY_METRICS:
            worse = change > LATENCY_TOLERANCE * (before or 0.0)
        else:
            worse = change < -TOLERANCE
        deltas.append({"metric": name, "base": before, "new": after, "delta": change, "worse": worse})
    old_cases = {c["id"]: c for c in base["cases"]}
    new_cases = {c["id"]: c for c in new["cases"]}
    regressions = []
    for case_id, after in new_cases.items():
        before = old_cases.get(case_id)
        if before is None:
            continue
        if after.get("error") and not before.get("error"):
            regressions.append({"id": case_id, "metric": "error", "base": None, "new": after["error"]})
        for name in RATED_METRICS:
            b, a = before["metrics"].get(name), after["metrics"].get(name)
            if b is not None and (a is None or a < b - TOLERANCE):
                regressions.append({"id": case_id, "metric": name, "base": b, "new": a})
    return {
        "metrics": deltas,
        "regressions": regressions,
        "added": sorted(new_cases.keys() - old_cases.keys()),
        "removed": sorted(old_cases.keys() - new_cases.keys()),
    }


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def render(result: dict[str, Any]) -> str:
    lines = [f"{'metric':<20} {'base':>10} {'new':>10} {'delta':>10}"]
    for row in result["metrics"]:
        delta = "-" if row["delta"] is None else f"{row['delta']:+.3f}"
        flag = "  worse" if row["worse"] else ""
        lines.append(f"{row['metric']:<20} {_num(row['base']):>10} {_num(row['new']):>10} {delta:>10}{flag}")
    lines.append("")
    if result["regressions"]:
        lines.append(f"{len(result['regressions'])} per-case regressions:")
        for r in result["regressions"]:
            if r["metric"] == "error":
                lines.append(f"  {r['id']}: now fails: {r['new']}")
            else:
                lines.append(f"  {r['id']}: {r['metric']} {_num(r['base'])} -> {_num(r['new'])}")
    else:
        lines.append("no per-case regressions")
    for key in ("added", "removed"):
        if result[key]:
            lines.append(f"cases {key}: {', '.join(result[key])}")
    return "\n".join(lines)
