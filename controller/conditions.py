"""metav1.Condition bookkeeping: lastTransitionTime moves only when a condition's status changes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from chatfleet.controller.spec import Condition

CONDITION_TYPES = ("Ready", "Progressing", "Degraded", "LoadTestPassed")
ConditionStatus = Literal["True", "False", "Unknown"]  # as Condition.status accepts it


def set_condition(
    conditions: list[Condition],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    generation: int | None,
    now: datetime,
) -> list[Condition]:
    """Conditions with `type_` set; keeps the old transition time unless the status flipped."""
    previous = next((c for c in conditions if c.type == type_), None)
    since = previous.last_transition_time if previous and previous.status == status else now
    updated = Condition(
        type=type_,
        status=status,
        observed_generation=generation,
        last_transition_time=since,
        reason=reason,
        message=message,
    )
    others = [c for c in conditions if c.type != type_]
    return sorted(
        [*others, updated], key=lambda c: CONDITION_TYPES.index(c.type) if c.type in CONDITION_TYPES else 99
    )


def get_condition(conditions: list[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)
