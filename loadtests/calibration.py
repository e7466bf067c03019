"""Finds how many concurrent streams one replica serves within the TTFT SLO: the HPA's streamsPerReplica.

A stepped load raises concurrent users (zero think time, so users = in-flight streams) against one
replica; the knee is where TTFT p95 (or the error rate) first crosses its SLO, interpolated between the
last good and first bad step. The recommendation sits below the knee by a headroom factor, because the
HPA reacts after the fact and new pods need time to become ready.
"""

from __future__ import annotations

import math
from typing import Any

from chatfleet.contracts.loadtest import Slo

DEFAULT_STEPS = 8
DEFAULT_HEADROOM = 0.8


def plan_steps(max_users: int, steps: int = DEFAULT_STEPS) -> list[int]:
    """Evenly spaced user counts ending at `max_users`; fewer steps when there are fewer users."""
    if max_users < 1:
        raise ValueError("max users must be at least 1")
    count = min(steps, max_users)
    return sorted({max(1, round(max_users * (i + 1) / count)) for i in range(count)})


def _crossed(step: dict[str, Any], slo: Slo) -> bool:
    p95 = step.get("ttftP95Ms")
    error_rate = step.get("errorRatePercent")
    if p95 is None:  # nothing answered at this concurrency: past any knee
        return True
    return p95 > slo.ttft_p95_ms or (error_rate is not None and error_rate > slo.error_rate_percent)


def find_knee(steps: list[dict[str, Any]], slo: Slo, headroom: float = DEFAULT_HEADROOM) -> dict[str, Any]:
    """The calibration result: steps measured, the knee (users) and the recommended streamsPerReplica."""
    if not 0 < headroom <= 1:
        raise ValueError("headroom must be in (0, 1]")
    knee: float | None = None
    method: str
    for index, step in enumerate(steps):
        if not _crossed(step, slo):
            continue
        if index == 0:
            knee = float(step["users"])
            method = f"TTFT p95 already over {slo.ttft_p95_ms:g} ms at the first step ({step['users']} users)"
        else:
            before = steps[index - 1]
            knee = _interpolate(before, step, slo.ttft_p95_ms)
            method = (
                f"TTFT p95 crossed {slo.ttft_p95_ms:g} ms between {before['users']} and "
                f"{step['users']} users (linear interpolation)"
            )
        break
    else:
        method = (
            f"TTFT p95 stayed under {slo.ttft_p95_ms:g} ms up to {steps[-1]['users']} users; "
            "the knee lies higher"
            if steps
            else "no steps measured"
        )
    ceiling = knee if knee is not None else float(steps[-1]["users"]) if steps else 1.0
    return {
        "steps": steps,
        "kneeConcurrency": None if knee is None else round(knee, 2),
        "kneeFound": knee is not None,
        "headroom": headroom,
        "streamsPerReplica": max(1, math.floor(ceiling * headroom)),
        "method": method,
    }


def _interpolate(before: dict[str, Any], after: dict[str, Any], limit: float) -> float:
    """Users at which TTFT p95 reaches `limit`, on the line between two measured steps."""
    low_users, high_users = float(before["users"]), float(after["users"])
    low_p95, high_p95 = before.get("ttftP95Ms"), after.get("ttftP95Ms")
    if low_p95 is None or high_p95 is None or high_p95 <= low_p95 or high_p95 <= limit:
        # crossed on errors, or TTFT did not rise: the last good step is the best estimate
        return low_users
    fraction = (limit - low_p95) / (high_p95 - low_p95)
    return low_users + min(max(fraction, 0.0), 1.0) * (high_users - low_users)
