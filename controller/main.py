"""kopf registrations of the operator, and nothing else: each handler delegates to controller/handlers/."""

from __future__ import annotations

from typing import Any

import kopf

from chatfleet.contracts.resource import GROUP, PLURAL, VERSION
from chatfleet.controller.handlers import children, lifecycle, reconcile
from chatfleet.controller.naming import FIELD_MANAGER, MANAGED_BY
from chatfleet.controller.settings import OperatorSettings

SETTINGS = OperatorSettings()
APP = (GROUP, VERSION, PLURAL)
OWNED = {MANAGED_BY: FIELD_MANAGER}
CHILD_RESOURCES = [
    ("", "v1", "serviceaccounts"),
    ("", "v1", "configmaps"),
    ("", "v1", "services"),
    ("apps", "v1", "deployments"),
    ("autoscaling", "v2", "horizontalpodautoscalers"),
    ("policy", "v1", "poddisruptionbudgets"),
    ("networking.k8s.io", "v1", "networkpolicies"),
    ("networking.k8s.io", "v1", "ingresses"),  # HTTPRoutes are not watched: the CRDs may be absent
    ("batch", "v1", "jobs"),
]


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    memo.ctx = lifecycle.configure(settings, SETTINGS)


@kopf.on.cleanup()
def cleanup(memo: kopf.Memo, **_: Any) -> None:
    lifecycle.shutdown(memo.ctx)


@kopf.on.resume(*APP)
@kopf.on.create(*APP)
@kopf.on.update(*APP)
def reconcile_app(body: kopf.Body, memo: kopf.Memo, reason: str, **_: Any) -> None:
    try:
        reconcile.reconcile(memo.ctx, dict(body), created=reason == "create")
    except reconcile.ReconcileError as error:
        raise kopf.TemporaryError(str(error), delay=SETTINGS.retry_seconds) from error


def _namespace(namespace: str | None) -> str:
    """kopf passes None only for cluster-scoped resources; a ChatApplication is namespaced."""
    assert namespace is not None
    return namespace


@kopf.timer(*APP, interval=SETTINGS.resync_seconds, initial_delay=SETTINGS.resync_seconds)
def resync(name: str, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    reconcile.reconcile_by_name(memo.ctx, _namespace(namespace), name)


@kopf.timer(
    *APP,
    interval=SETTINGS.gate_poll_seconds,
    when=lambda status, **_: status.get("rollout", {}).get("phase") in ("Testing", "Baking"),
)
def poll_gate(name: str, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    reconcile.reconcile_by_name(memo.ctx, _namespace(namespace), name)


@kopf.on.delete(*APP, optional=True)
def forget(name: str, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    memo.ctx.forget((_namespace(namespace), name))


for _group, _version, _plural in CHILD_RESOURCES:

    @kopf.on.event(_group, _version, _plural, labels=OWNED, id=f"child-{_plural}")
    async def child_event(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        await children.on_child_event(memo.ctx, event.get("type"), dict(body))
