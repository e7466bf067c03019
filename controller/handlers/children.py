"""Drift repair: events of owned children trigger a (debounced) reconcile of their ChatApplication.

Cheap filters first, because every Deployment status change and every Job heartbeat is an event: a child
that still matches what the operator last applied, and a Deployment whose status figures did not change,
cost nothing. Deleted or hand-edited children, finished gate Jobs and Deployment progress do reconcile.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Literal

from chatfleet.contracts.resource import KIND
from chatfleet.controller import metrics
from chatfleet.controller.context import AppKey, OperatorContext
from chatfleet.controller.drift import needs_apply
from chatfleet.controller.handlers.reconcile import reconcile_by_name, refresh_status

log = logging.getLogger("chatfleet.operator")

STATUS_FIGURES = ("replicas", "readyReplicas", "availableReplicas", "updatedReplicas", "observedGeneration")
JOB_DONE = {"Complete", "Failed", "SuccessCriteriaMet", "FailureTarget"}


def owner_key(body: dict[str, Any]) -> AppKey | None:
    meta = body.get("metadata", {})
    for ref in meta.get("ownerReferences", []):
        if ref.get("kind") == KIND and ref.get("controller"):
            return meta.get("namespace", ""), ref["name"]
    return None


def _figures(status: dict[str, Any]) -> dict[str, Any]:
    return {k: status.get(k) for k in STATUS_FIGURES}


Action = Literal["reconcile", "status"] | None


def classify(ctx: OperatorContext, key: AppKey, event_type: str | None, body: dict[str, Any]) -> Action:
    """What this child event calls for: a full reconcile, a status refresh, or nothing."""
    kind, name = body.get("kind", ""), body["metadata"]["name"]
    if kind == "Job":
        done = {c["type"] for c in body.get("status", {}).get("conditions", []) if c.get("status") == "True"}
        return "reconcile" if event_type != "DELETED" and done & JOB_DONE else None
    desired = ctx.desired.get(key)
    if desired is None:
        return None  # not reconciled by this process yet: its create/resume handler is about to run
    wanted = desired.get((kind, name))
    if event_type == "DELETED":
        return "reconcile" if wanted is not None else None
    if wanted is not None and needs_apply(json.loads(wanted), body):
        return "reconcile"
    stable = kind == "Deployment" and name == key[1]
    if stable and _figures(body.get("status", {})) != _figures(ctx.deployment_status.get(key, {})):
        return "status"
    return None


async def on_child_event(ctx: OperatorContext, event_type: str | None, body: dict[str, Any]) -> None:
    key = owner_key(body)
    action = classify(ctx, key, event_type, body) if key else None
    if key is None or action is None:
        return
    loop = asyncio.get_running_loop()
    try:
        if action == "status":
            ctx.deployment_status[key] = body.get("status", {})  # later events with these figures: skipped
            await loop.run_in_executor(ctx.executor, refresh_status, ctx, *key, body)
            return
        if key in ctx.pending:
            return
        ctx.pending.add(key)
        try:
            with metrics.queued():
                await asyncio.sleep(ctx.settings.debounce_seconds)
        finally:
            ctx.pending.discard(key)
        await loop.run_in_executor(ctx.executor, reconcile_by_name, ctx, *key)
    except Exception:  # a failed repair is retried by the next event or the resync timer
        log.exception("%s of %s/%s after a child event failed", action, *key)
