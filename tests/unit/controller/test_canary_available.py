"""When the reconciler tells the rollout machine the candidate's canary can be load-tested."""

from __future__ import annotations

from typing import Any

import pytest

from chatfleet.controller import naming as n
from chatfleet.controller.handlers.reconcile import canary_available


def canary(revision: str = "r2", generation: int = 2, **status: int) -> dict[str, Any]:
    return {
        "metadata": {"name": "bot-canary", "generation": generation},
        "spec": {"template": {"metadata": {"labels": {n.REVISION: revision}}}},
        "status": status,
    }


@pytest.mark.parametrize(
    ("deployment", "ready"),
    [
        (None, False),
        (canary(observedGeneration=2, updatedReplicas=1, availableReplicas=0), False),
        (canary(observedGeneration=1, updatedReplicas=1, availableReplicas=1), False),  # not observed yet
        (canary(revision="r1", observedGeneration=2, updatedReplicas=1, availableReplicas=1), False),
        (canary(observedGeneration=2, updatedReplicas=0, availableReplicas=1), False),  # old pod serving
        (canary(observedGeneration=2, updatedReplicas=1, availableReplicas=1), True),
    ],
)
def test_only_an_observed_available_canary_of_the_candidate_counts(
    deployment: dict[str, Any] | None, ready: bool
) -> None:
    assert canary_available(deployment, "r2") is ready
