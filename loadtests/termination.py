"""The summary squeezed into a Kubernetes termination message, which the kubelet cuts at 4096 bytes.

The operator reads the verdict of a load-test Job from the container's termination message, so the
message must stay valid JSON with the summary's keys: detail is shed in a fixed order, never the verdicts.
"""

from __future__ import annotations

import json
from typing import Any

from chatfleet.contracts.loadtest import SUMMARY_KEYS

LIMIT_BYTES = 4096
_TEXT_CAP = 200


def _size(document: dict[str, Any]) -> int:
    return len(json.dumps(document, separators=(",", ":")).encode())


def _shorten(text: Any, cap: int) -> Any:
    return text[:cap] + "..." if isinstance(text, str) and len(text) > cap else text


def termination_message(summary: dict[str, Any], limit: int = LIMIT_BYTES) -> str:
    """Compact JSON below `limit` bytes: the summary's keys, the calibration result and any run error."""
    compact: dict[str, Any] = {key: summary[key] for key in SUMMARY_KEYS if key in summary}
    if "error" in summary:
        compact["error"] = summary["error"]
    if "calibration" in summary:
        compact["calibration"] = dict(summary["calibration"])
    shrinkers = (
        _drop_calibration_detail,
        _cap_strings,
        _drop_calibration_steps,
        _cap_strings_hard,
    )
    for shrink in shrinkers:
        if _size(compact) < limit:
            break
        shrink(compact)
    text = json.dumps(compact, separators=(",", ":"))
    if len(text.encode()) >= limit:
        raise ValueError(f"summary cannot be compacted below {limit} bytes")
    return text


def _drop_calibration_detail(compact: dict[str, Any]) -> None:
    calibration = compact.get("calibration")
    if calibration and len(calibration.get("steps", [])) > 6:
        steps = calibration["steps"]
        calibration["steps"] = steps[:3] + steps[-3:]
        calibration["stepsOmitted"] = len(steps) - 6


def _cap_strings(compact: dict[str, Any]) -> None:
    for key in ("host", "scenario", "error", "startedAt", "finishedAt"):
        if key in compact:
            compact[key] = _shorten(compact[key], _TEXT_CAP)


def _drop_calibration_steps(compact: dict[str, Any]) -> None:
    calibration = compact.get("calibration")
    if calibration and "steps" in calibration:
        calibration["stepsOmitted"] = calibration.get("stepsOmitted", 0) + len(calibration.pop("steps"))


def _cap_strings_hard(compact: dict[str, Any]) -> None:
    for key in ("host", "scenario", "error"):
        if key in compact:
            compact[key] = _shorten(compact[key], 40)
    calibration = compact.get("calibration")
    if calibration:
        compact["calibration"] = {k: _shorten(v, 40) for k, v in calibration.items()}
