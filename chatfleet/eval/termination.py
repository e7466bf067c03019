"""The eval verdict squeezed into a Kubernetes termination message (the kubelet keeps 4096 bytes), so a Job
running `chatfleet eval run` reports scores and the failed thresholds without anyone scraping logs.

The full report (answers, sources) stays in `--json`; the message keeps the verdict, every metric, the
thresholds and what was evaluated (set digest, prompt versions, deployments), shedding names before numbers.
"""

from __future__ import annotations

import json
from typing import Any

LIMIT_BYTES = 4096
_TEXT_CAP = 120
_MAX_DEPLOYMENTS = 10


def _text(value: Any, cap: int = _TEXT_CAP) -> Any:
    return value[:cap] + "..." if isinstance(value, str) and len(value) > cap else value


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def termination_message(report: dict[str, Any], limit: int = LIMIT_BYTES) -> str:
    """Compact JSON below `limit` bytes; a report with `error` (no verdict) keeps just the error."""
    if "error" in report:
        return _dump({"passed": False, "error": _text(report["error"], 1000)})
    compact: dict[str, Any] = {
        "set": _text(report["set"]),
        "setSha256": report.get("setSha256"),
        "host": _text(report["host"]),
        "passed": report["passed"],
        "cases": len(report["cases"]),
        "failedCases": sum(1 for c in report["cases"] if c.get("error")),
        "metrics": report["metrics"],
        "thresholds": [
            {k: c[k] for k in ("metric", "bound", "threshold", "actual", "passed", "unscored") if k in c}
            for c in report["thresholds"]
        ],
        "promptVersions": {_text(k, 64): _text(v, 32) for k, v in report["promptVersions"].items()},
        "deployments": [_text(d, 64) for d in report["deployments"][:_MAX_DEPLOYMENTS]],
    }
    judge = report.get("judge")
    if judge:
        compact["judge"] = {
            "deployment": _text(judge["deployment"], 64),
            "prompts": {_text(k, 64): _text(v, 32) for k, v in judge["prompts"].items()},
            "unscored": len(judge["unscored"]),
        }
    for optional in ("deployments", "promptVersions", "host", "set"):
        if len(_dump(compact).encode()) < limit:
            break
        compact.pop(optional)
    text = _dump(compact)
    if len(text.encode()) >= limit:
        raise ValueError(f"eval verdict cannot be compacted below {limit} bytes")
    return text
