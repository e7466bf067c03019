"""Which child events cost a reconcile: the filter that keeps watch traffic from becoming API traffic."""

from __future__ import annotations

import copy
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from chatfleet.controller.context import OperatorContext
from chatfleet.controller.drift import with_hash
from chatfleet.controller.handlers.children import classify, owner_key
from chatfleet.controller.loading import parse_application
from chatfleet.controller.render import render
from chatfleet.controller.settings import OperatorSettings

KEY = ("ns", "bot")


@pytest.fixture
def ctx() -> OperatorContext:
    executor = ThreadPoolExecutor(1)
    yield OperatorContext(settings=OperatorSettings(), kube=None, runner=None, executor=executor)  # type: ignore[arg-type]
    executor.shutdown()


@pytest.fixture
def children(make_app, ctx: OperatorContext) -> dict:
    app = parse_application(make_app({"metadata": {"name": "bot", "namespace": "ns", "uid": "u"}}))
    wanted = {(c["kind"], c["metadata"]["name"]): c for c in render(app)}
    ctx.desired[KEY] = {k: json.dumps(v) for k, v in wanted.items()}
    return {k: {**with_hash(v), "status": {}} for k, v in wanted.items()}


def test_owner_is_found_from_the_controller_reference(children: dict) -> None:
    assert owner_key(children[("Service", "bot")]) == KEY
    assert owner_key({"metadata": {"namespace": "ns", "ownerReferences": []}}) is None


def test_own_writes_are_skipped(ctx: OperatorContext, children: dict) -> None:
    for body in children.values():
        assert classify(ctx, KEY, "MODIFIED", body) is None


def test_hand_edit_and_deletion_reconcile(ctx: OperatorContext, children: dict) -> None:
    service = copy.deepcopy(children[("Service", "bot")])
    service["spec"]["selector"]["chatfleet.dev/track"] = "canary"
    assert classify(ctx, KEY, "MODIFIED", service) == "reconcile"
    assert classify(ctx, KEY, "DELETED", children[("NetworkPolicy", "bot")]) == "reconcile"


def test_stable_deployment_progress_refreshes_status_only(ctx: OperatorContext, children: dict) -> None:
    deployment = copy.deepcopy(children[("Deployment", "bot")])
    deployment["status"] = {"replicas": 2, "availableReplicas": 1}
    assert classify(ctx, KEY, "MODIFIED", deployment) == "status"
    ctx.deployment_status[KEY] = deployment["status"]
    assert classify(ctx, KEY, "MODIFIED", deployment) is None


def test_finished_gate_job_reconciles(ctx: OperatorContext) -> None:
    job = {"kind": "Job", "metadata": {"name": "bot-gate-x-1", "namespace": "ns"}, "status": {}}
    assert classify(ctx, KEY, "MODIFIED", job) is None
    job["status"]["conditions"] = [{"type": "Complete", "status": "True"}]
    assert classify(ctx, KEY, "MODIFIED", job) == "reconcile"


def test_unknown_owner_waits_for_its_own_handler(ctx: OperatorContext, children: dict) -> None:
    assert classify(ctx, ("ns", "other"), "DELETED", children[("Service", "bot")]) is None
