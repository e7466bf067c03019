"""The reconcile loop of one ChatApplication: plan the rollout, apply what differs, prune, write status.

Every path (create/update/resume, the resync timer, the gate poll, child events) ends here, serialised
per resource by a lock. Writes happen only where desired and live differ, so an unchanged resync costs
seven reads and no write.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from chatfleet.contracts.resource import API_VERSION, KIND
from chatfleet.controller import metrics
from chatfleet.controller import naming as n
from chatfleet.controller.cel import parse_duration
from chatfleet.controller.conditions import set_condition
from chatfleet.controller.context import AppKey, ChildKey, OperatorContext
from chatfleet.controller.dev_mode import PLACEHOLDER_KEY, local_dev_mode
from chatfleet.controller.drift import needs_apply, with_hash
from chatfleet.controller.inputs import InputsError, read_inputs
from chatfleet.controller.loading import describe
from chatfleet.controller.render import render, revision
from chatfleet.controller.rollout import machine
from chatfleet.controller.rollout.bake import BakeReading, BakeSourceError
from chatfleet.controller.rollout.canary import startup_failure
from chatfleet.controller.rollout.evaluation import judge_endpoint
from chatfleet.controller.rollout.runner import GateRun
from chatfleet.controller.spec import ChatApplication, ChatApplicationStatus
from chatfleet.controller.status import dump, merge_patch, observed_status

log = logging.getLogger("chatfleet.operator")

LISTED_KINDS = ("ConfigMap", "Deployment", "Service")  # several per app (revisions, canary): listed + pruned
SINGLE_KINDS = ("ServiceAccount", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy")
# The optional HTTPS entry: one of them or none, so both are read (a cluster without the Gateway API answers
# 404, like a missing object) and the one no longer wanted is pruned.
ENTRY_KINDS = ("Ingress", "HTTPRoute")


class ReconcileError(RuntimeError):
    """A reconcile that must be retried (the API server refused a write)."""


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _owned_by(obj: dict[str, Any], uid: str | None) -> bool:
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences", []))


def fetch_live(ctx: OperatorContext, app: ChatApplication) -> dict[ChildKey, dict[str, Any]]:
    """The app's live children: 3 label-selected lists + 6 gets, from the API server's watch cache.

    A lagging cache costs at most a redundant (idempotent) apply or a prune one reconcile later.
    """
    ns, name = app.metadata.namespace, app.metadata.name
    selector = f"{n.INSTANCE}={name},{n.MANAGED_BY}={n.FIELD_MANAGER}"
    live: dict[ChildKey, dict[str, Any]] = {}
    for kind in LISTED_KINDS:
        for obj in ctx.kube.list(kind, ns, selector, cached=True):
            live[(kind, obj["metadata"]["name"])] = obj
    for kind in SINGLE_KINDS + ENTRY_KINDS:
        child = ctx.kube.get(kind, ns, name, cached=True)
        if child is not None:
            live[(kind, name)] = child
    return live


def gate_run(ctx: OperatorContext, app: ChatApplication, run_name: str, candidate: str) -> GateRun:
    """The runner's view of the gate: target is the canary Service, or a loopback URL for local runs."""
    target = n.canary_endpoint(app.metadata.name, app.metadata.namespace)
    if ctx.settings.gate_runner == "local":
        target = (
            app.metadata.annotations.get(n.LOADTEST_HOST_ANNOTATION) or ctx.settings.local_gate_host or target
        )
    lt = app.spec.rollout.load_test
    return GateRun(
        app=app.metadata.name,
        namespace=app.metadata.namespace,
        uid=app.metadata.uid or "",
        name=run_name,
        revision=candidate,
        target=target,
        image=lt.image or ctx.settings.loadtest_image or app.spec.image,
        load_test=lt,
        calibrate=app.spec.scaling.streams_per_replica is None,
        timeout_seconds=int(parse_duration(app.spec.rollout.gate_timeout) or 0),
        evaluation=app.spec.rollout.evaluation,
        tenants=tuple(app.spec.tenants),
        audience=app.spec.auth.audience,
        judge_endpoint=judge_endpoint(app.spec),
        # dev mode: the judge is the local simulator, which takes the placeholder key (no Azure identity)
        judge_api_key=PLACEHOLDER_KEY if ctx.settings.dev_mode else None,
    )


def _observer(ctx: OperatorContext, app: ChatApplication) -> machine.Observe | None:
    """The bake's view of a revision's live figures; a Prometheus outage reads as "no figures yet"."""
    if ctx.bake_source is None:
        return None
    source = ctx.bake_source

    def observe(revision_id: str, window: str) -> BakeReading | None:
        try:
            return source.read(app.metadata.namespace, app.metadata.name, revision_id, window)
        except BakeSourceError as error:
            log.warning(
                "%s/%s: bake of %s waits: %s", app.metadata.namespace, app.metadata.name, revision_id, error
            )
            return None

    return observe


def post_event(ctx: OperatorContext, body: dict[str, Any], event: machine.Event) -> None:
    """A core/v1 Event on the ChatApplication (shows in `kubectl describe chatapp`)."""
    meta = body["metadata"]
    stamp = now_utc().isoformat().replace("+00:00", "Z")
    try:
        ctx.kube.create(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
                "involvedObject": {
                    "apiVersion": API_VERSION,
                    "kind": KIND,
                    "name": meta["name"],
                    "namespace": meta["namespace"],
                    "uid": meta.get("uid"),
                },
                "type": event.type,
                "reason": event.reason,
                "message": event.message[:1024],
                "source": {"component": n.FIELD_MANAGER},
                "reportingComponent": n.FIELD_MANAGER,
                "reportingInstance": n.FIELD_MANAGER,
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "count": 1,
            }
        )
    except ApiException as error:  # an event is best effort; the status carries the same facts
        log.warning("could not post event %s on %s: %s", event.reason, meta["name"], error.reason)


def _write_status(
    ctx: OperatorContext, body: dict[str, Any], old: dict[str, Any], new: dict[str, Any]
) -> None:
    if old == new:
        return
    meta = body["metadata"]
    ctx.kube.patch_status(KIND, meta["namespace"], meta["name"], merge_patch(old, new))


def _invalid(ctx: OperatorContext, body: dict[str, Any], error: ValidationError) -> None:
    """A resource the API server accepted but the model rejects (e.g. an older CRD): say so in status."""
    _degraded(ctx, body, "InvalidSpec", "; ".join(describe(error)))


def _degraded(ctx: OperatorContext, body: dict[str, Any], reason: str, message: str) -> None:
    """Degraded with the reason, nothing applied: no new revision, the serving one keeps serving."""
    old = body.get("status") or {}
    try:
        status = ChatApplicationStatus.model_validate(old)
    except ValidationError:
        status = ChatApplicationStatus()
    gen = body["metadata"].get("generation")
    status.conditions = set_condition(status.conditions, "Degraded", "True", reason, message, gen, now_utc())
    status.observed_generation = gen
    _write_status(ctx, body, old, dump(status))


def reconcile(ctx: OperatorContext, body: dict[str, Any], created: bool = False) -> None:
    """Serialised reconcile of one resource body; `created`: brand new, so no child can exist yet."""
    key: AppKey = (body["metadata"]["namespace"], body["metadata"]["name"])
    lock = ctx.lock_for(key)
    with metrics.queued():
        lock.acquire()
    try:
        metrics.observe_reconcile(lambda: _reconcile(ctx, body, created))
    finally:
        lock.release()


def refresh_status(ctx: OperatorContext, namespace: str, name: str, deployment: dict[str, Any]) -> None:
    """Only the stable Deployment's figures moved: recompute the status from it, no child reads."""
    key: AppKey = (namespace, name)
    with ctx.lock_for(key):
        body = ctx.kube.get(KIND, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return
        try:
            app = ChatApplication.model_validate(body)
        except ValidationError:
            return
        ctx.deployment_status[key] = deployment.get("status", {})
        unchanged = machine.Plan(status=app.status.model_copy(deep=True))
        status = observed_status(app, unchanged, deployment, None, now_utc(), ctx.oidc_issuer)
        _write_status(ctx, body, dump(app.status) if body.get("status") else {}, dump(status))


def canary_available(deployment: dict[str, Any] | None, candidate: str) -> bool:
    """The live canary Deployment runs the candidate (its template, observed by the Deployment controller)
    and has an available pod: only then does the gate's load test have something to measure."""
    if deployment is None:
        return False
    template = deployment.get("spec", {}).get("template", {}).get("metadata", {})
    status = deployment.get("status", {})
    return (
        template.get("labels", {}).get(n.REVISION) == candidate
        and status.get("observedGeneration", 0) >= deployment.get("metadata", {}).get("generation", 1)
        and status.get("updatedReplicas", 0) >= 1
        and status.get("availableReplicas", 0) >= 1
    )


def canary_failure(ctx: OperatorContext, app: ChatApplication, candidate: str) -> str | None:
    """Why the candidate's canary pods cannot start, while its gate waits for them (one pod list)."""
    rollout, revision_status = app.status.rollout, app.status.revision
    if rollout.phase != "Testing" or rollout.run is not None or revision_status.candidate != candidate:
        return None
    selector = f"{n.INSTANCE}={app.metadata.name},{n.REVISION}={candidate}"
    return startup_failure(ctx.kube.list("Pod", app.metadata.namespace, label_selector=selector))


def reconcile_by_name(ctx: OperatorContext, namespace: str, name: str) -> None:
    """Reconcile from a fresh read (child events, timers): the body a handler got may be stale by now."""
    lock = ctx.lock_for((namespace, name))
    with metrics.queued():
        lock.acquire()
    try:
        body = ctx.kube.get(KIND, namespace, name)
        if body is None:
            ctx.forget((namespace, name))
            return
        metrics.observe_reconcile(lambda: _reconcile(ctx, body))
    finally:
        lock.release()


def _reconcile(ctx: OperatorContext, body: dict[str, Any], created: bool = False) -> str:
    """One reconcile; returns its outcome for the metrics: ok, invalid or degraded (raises on errors)."""
    meta = body["metadata"]
    if meta.get("deletionTimestamp"):
        return "ok"  # owner references hand the children to the garbage collector
    ctx.reconciles += 1
    try:
        app = ChatApplication.model_validate(body)
    except ValidationError as error:
        _invalid(ctx, body, error)
        return "invalid"
    key: AppKey = (app.metadata.namespace, app.metadata.name)
    try:
        inputs_digest = read_inputs(app, lambda name: ctx.kube.get("ConfigMap", app.metadata.namespace, name))
    except InputsError as error:
        log.warning("%s/%s: %s", *key, error)
        _degraded(ctx, body, error.reason, str(error))
        return "degraded"
    now = now_utc()
    spec_revision = revision(app.metadata.name, app.spec, inputs_digest)
    live = {} if created else fetch_live(ctx, app)
    canary = live.get(("Deployment", n.canary_name(app.metadata.name)))
    candidate_ready = canary_available(canary, spec_revision)
    plan = machine.plan(
        app,
        spec_revision,
        lambda run: ctx.runner.poll(gate_run(ctx, app, run, spec_revision)),
        now,
        inputs_digest,
        observe=_observer(ctx, app),
        candidate_ready=candidate_ready,
        candidate_failure=None if candidate_ready else canary_failure(ctx, app, spec_revision),
    )
    planned = app.model_copy(update={"status": plan.status})
    desired = render(planned, inputs_digest)
    if ctx.settings.dev_mode:
        desired = local_dev_mode(desired)

    apply_error = None
    wanted = {(d["kind"], d["metadata"]["name"]): d for d in desired}
    # known before the writes, so the watch events they cause are recognised as our own and skipped
    ctx.desired[key] = {child: json.dumps(manifest) for child, manifest in wanted.items()}
    try:
        for child_key, manifest in wanted.items():
            if needs_apply(manifest, live.get(child_key)):
                live[child_key] = ctx.kube.apply(with_hash(manifest))
        for child_key, obj in list(live.items()):
            prunable = child_key[0] in LISTED_KINDS + ENTRY_KINDS
            if prunable and child_key not in wanted and _owned_by(obj, app.metadata.uid):
                ctx.kube.delete(child_key[0], app.metadata.namespace, child_key[1])
                del live[child_key]
    except ApiException as error:
        apply_error = f"API server refused a child: {error.status} {error.reason}: {(error.body or '')[:300]}"
        log.warning("%s/%s: %s", *key, apply_error)

    if apply_error is None:
        if plan.verdict is not None:  # the whole gate: a failed evaluation fails it as a failed SLO does
            failure = plan.verdict.failure()
            metrics.gate_outcome(*key, failure is None, failure[0] if failure else plan.verdict.reason)
        if plan.bake_failure is not None:
            metrics.gate_outcome(*key, False, "BakeFailed")
        for run_name in plan.cancel_runs:
            ctx.runner.cancel(run_name, app.metadata.namespace)
        if plan.start_run:
            ctx.runner.start(gate_run(ctx, app, plan.start_run, spec_revision))
    else:
        plan = machine.Plan(status=app.status.model_copy(deep=True))  # nothing moved: retry the step later

    deployment = live.get(("Deployment", n.stable_name(app.metadata.name)))
    ctx.deployment_status[key] = (deployment or {}).get("status", {})
    status = observed_status(
        planned if apply_error is None else app, plan, deployment, apply_error, now, ctx.oidc_issuer
    )
    old_status = dump(app.status) if body.get("status") else {}
    _write_status(ctx, body, old_status, dump(status))
    for event in plan.events:
        post_event(ctx, body, event)
    if apply_error:
        raise ReconcileError(apply_error)
    return "ok"
