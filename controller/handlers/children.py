"""Drift repair: events of owned children trigger a (debounced) reconcile of their ChatApplication.

Cheap filters first, because every Deployment status change and every Job heartbeat is an event: a child
that still matches what the operator last applied, and a Deployment whose status figures did not change,
cost nothing. Deleted or hand-edited children, finished gate Jobs and Deployment progress do reconcile.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from chatfleet.controller.context import AppKey, OperatorContext
from chatfleet.controller.drift import needs_apply
from chatfleet.controller.handlers.reconcile import reconcile_by_name
from chatfleet.controller.spec import KIND

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


def needs_reconcile(ctx: OperatorContext, key: AppKey, event_type: str | None, body: dict[str, Any]) -> bool:
    """Whether this child event can change anything for its owner."""
    kind, name = body.get("kind"), body["metadata"]["name"]
    if kind == "Job":
        done = {c["type"] for c in body.get("status", {}).get("conditions", []) if c.get("status") == "True"}
        return event_type != "DELETED" and bool(done & JOB_DONE)
    desired = ctx.desired.get(key)
    if desired is None:
        return True  # operator restarted: the resume handler reconciles, this keeps order-independence
    wanted = desired.get((kind, name))
    if event_type == "DELETED":
        return wanted is not None
    if wanted is not None and needs_apply(wanted, body):
        return True
    if kind == "Deployment":
        return _figures(body.get("status", {})) != _figures(ctx.deployment_status.get(key, {}))
    return False


async def on_child_event(ctx: OperatorContext, event_type: str | None, body: dict[str, Any]) -> None:
    key = owner_key(body)
    if key is None or not needs_reconcile(ctx, key, event_type, body):
        return
    if key in ctx.pending:
        return
    ctx.pending.add(key)
    try:
        await asyncio.sleep(ctx.settings.debounce_seconds)
    finally:
        ctx.pending.discard(key)
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(ctx.executor, reconcile_by_name, ctx, *key)
    except Exception:  # a failed repair is retried by the next event or the resync timer
        log.exception("reconcile of %s/%s after a child event failed", *key)
