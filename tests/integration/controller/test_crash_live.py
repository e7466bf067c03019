"""An operator SIGKILLed in the middle of reconciling restarts and converges: no duplicates, no orphans."""

from __future__ import annotations

import time
from collections import Counter

from chatfleet.contracts.resource import KIND
from chatfleet.controller import naming as n
from chatfleet.controller.kube import KubeClient
from chatfleet.controller.loading import parse_application
from chatfleet.controller.render import render

APPS = 30
KINDS = ["ServiceAccount", "ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler",
         "PodDisruptionBudget", "NetworkPolicy"]  # fmt: skip


def managed(kube: KubeClient, namespace: str) -> list[tuple[str, dict]]:
    """(kind, object) of every operator-managed child (list items carry no kind)."""
    selector = f"{n.MANAGED_BY}={n.FIELD_MANAGER}"
    return [(kind, obj) for kind in KINDS for obj in kube.list(kind, namespace, selector)]


def test_sigkill_mid_reconcile_then_restart_converges(
    operator_factory, kube: KubeClient, private_namespace: str, app_doc, wait
) -> None:
    ns = private_namespace
    for index in range(APPS):
        kube.create(app_doc(f"app-{index:02d}", ns, {"spec": {"rollout": {"strategy": "Immediate"}}}))
    slow = operator_factory([ns], CHATFLEET_OPERATOR_MAX_WORKERS="1")
    wait(lambda: len(kube.list("Deployment", ns)) >= 3, 60, "first reconciles\n" + slow.log())
    slow.kill()
    at_kill = Counter(kind for kind, _ in managed(kube, ns))
    assert at_kill["Deployment"] < APPS, "the kill must land while reconciles are still running"

    restarted = operator_factory([ns])
    apps = {a["metadata"]["name"]: a for a in kube.list(KIND, ns)}

    def all_converged() -> bool:
        bodies = kube.list(KIND, ns)
        if any(b.get("status", {}).get("observedGeneration") != b["metadata"]["generation"] for b in bodies):
            return False
        return len(managed(kube, ns)) == APPS * (len(KINDS) + 1)  # two Services: the app's, <app>-metrics

    wait(all_converged, 90, "convergence after restart\n" + restarted.log())
    time.sleep(1)
    live = managed(kube, ns)
    names = Counter((kind, obj["metadata"]["name"]) for kind, obj in live)
    assert all(count == 1 for count in names.values())
    uids = {a["metadata"]["uid"] for a in apps.values()}
    for kind, obj in live:
        (owner,) = obj["metadata"]["ownerReferences"]
        assert owner["uid"] in uids, f"orphan {kind}/{obj['metadata']['name']}"
    expected = {(m["kind"], m["metadata"]["name"]) for a in kube.list(KIND, ns)
                for m in render(parse_application(a))}  # fmt: skip
    assert set(names) == expected
    restarted.stop()
