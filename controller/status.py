"""Computes the observed status (conditions, replicas, endpoint) after a reconcile step."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chatfleet.controller import naming as n
from chatfleet.controller.azure_wiring import wiring
from chatfleet.controller.conditions import ConditionStatus, get_condition, set_condition
from chatfleet.controller.rollout.machine import Plan
from chatfleet.controller.spec import ChatApplication, ChatApplicationStatus


def observed_status(
    app: ChatApplication,
    plan: Plan,
    deployment: dict[str, Any] | None,
    apply_error: str | None,
    now: datetime,
    oidc_issuer: str | None = None,
) -> ChatApplicationStatus:
    """The status to write: the plan's rollout fields plus what the stable Deployment reports, and the
    Azure wiring the identity needs (`oidc_issuer`: the cluster's, read once by the operator)."""
    name, gen = app.metadata.name, app.metadata.generation
    status = plan.status.model_copy(deep=True)
    status.observed_generation = gen
    status.endpoint = n.endpoint(name, app.metadata.namespace)
    status.azure = wiring(app, oidc_issuer)
    dep = (deployment or {}).get("status", {})
    replicas, ready = dep.get("replicas", 0), dep.get("readyReplicas", 0)
    available, updated = dep.get("availableReplicas", 0), dep.get("updatedReplicas", 0)
    status.replicas, status.ready_replicas = replicas, ready
    conds = status.conditions

    def put(type_: str, value: ConditionStatus, reason: str, message: str) -> None:
        nonlocal conds
        conds = set_condition(conds, type_, value, reason, message, gen, now)

    current = status.revision.current
    rolling = deployment is not None and (
        updated < replicas or dep.get("observedGeneration", 0) < deployment["metadata"].get("generation", 0)
    )
    if deployment is None:
        put("Ready", "False", "Reconciling", "creating the chat Deployment")
    elif available >= 1 and not rolling:
        put("Ready", "True", "Available", f"{ready}/{replicas} replicas ready, serving revision {current}")
    elif available >= 1:
        # Ready means "fully reconciled" (kstatus, as Flux reads it), so a rollout is not Ready; yet nothing
        # is wrong, and a message sending people to look for failing pods would mislead them.
        put(
            "Ready",
            "False",
            "RollingOut",
            f"revision {current} is rolling out ({updated}/{replicas} updated); {available}/{replicas} "
            "replicas available keep serving",
        )
    else:
        put(
            "Ready",
            "False",
            "NotAvailable",
            f"{available}/{replicas} replicas available; check `kubectl describe deployment {name}` "
            "for pending or failing pods",
        )

    rollout = status.rollout
    if rollout.phase == "Testing":
        put("Progressing", "True", "GateRunning", rollout.message or "load-testing the candidate")
    elif rollout.phase == "Baking":
        put("Progressing", "True", "Baking", rollout.message or f"watching revision {current}'s live SLOs")
    elif rolling:
        put(
            "Progressing",
            "True",
            "RollingOut",
            f"rolling out revision {current} ({updated}/{replicas} updated)",
        )
    else:
        put("Progressing", "False", "Stable", f"revision {current} rolled out")

    verdict = plan.verdict
    if apply_error:
        put("Degraded", "True", "ApplyFailed", apply_error)
    elif plan.bake_failure is not None:
        put("Degraded", "True", "BakeFailed", plan.bake_failure)
    elif verdict is not None and (failure := verdict.failure()) is not None:
        put(
            "Degraded",
            "True",
            failure[0],
            f"revision {status.revision.candidate} rolled back, stable keeps serving {current}: {failure[1]}",
        )
    elif rollout.phase != "Failed":
        put("Degraded", "False", "AsExpected", "no failed rollout or apply error")

    if verdict is not None:
        put("LoadTestPassed", "True" if verdict.passed else "False", verdict.reason, verdict.message)
    elif get_condition(conds, "LoadTestPassed") is None:
        reason = "NotGated" if app.spec.rollout.strategy == "Immediate" else "NoLoadTestYet"
        put("LoadTestPassed", "Unknown", reason, "no load test has run for this resource yet")
    if app.spec.rollout.evaluation is None:
        put(
            "EvaluationPassed",
            "Unknown",
            "NotConfigured",
            "no evaluation configured (spec.rollout.evaluation)",
        )
    elif app.spec.rollout.strategy == "Immediate":
        put("EvaluationPassed", "Unknown", "NotGated", "strategy Immediate: no gate runs the evaluation")
    elif verdict is not None and verdict.evaluation is not None:
        evaluation = verdict.evaluation
        put(
            "EvaluationPassed",
            "True" if evaluation.passed else "False",
            evaluation.reason,
            evaluation.message,
        )
    elif verdict is not None:
        put(
            "EvaluationPassed",
            "Unknown",
            "NotEvaluated",
            f"the gate ended without an evaluation: {verdict.message}",
        )
    else:
        previous = get_condition(conds, "EvaluationPassed")
        if previous is None or previous.reason == "NotConfigured":
            put(
                "EvaluationPassed",
                "Unknown",
                "NoEvaluationYet",
                "no evaluation has run for this resource yet",
            )
    status.conditions = conds
    return status


def dump(status: ChatApplicationStatus) -> dict[str, Any]:
    return status.model_dump(by_alias=True, mode="json", exclude_none=True)


def merge_patch(old: Any, new: Any) -> Any:
    """RFC 7386 merge patch turning `old` into `new` (null removes a key)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: dict[str, Any] = {k: None for k in old if k not in new}
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            patch[key] = merge_patch(old[key], value)
    return patch
