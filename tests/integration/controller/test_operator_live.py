"""The operator against the real control plane: create, update, drift repair, idempotence, deletion."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from chatfleet.contracts.resource import KIND
from chatfleet.controller import naming as n
from chatfleet.controller.context import OperatorContext
from chatfleet.controller.drift import is_subset
from chatfleet.controller.handlers.reconcile import reconcile
from chatfleet.controller.kube import KubeClient
from chatfleet.controller.loading import parse_application
from chatfleet.controller.render import render
from chatfleet.controller.rollout.job_runner import JobRunner
from chatfleet.controller.settings import OperatorSettings

CHILD_KINDS = ["ServiceAccount", "ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler",
               "PodDisruptionBudget", "NetworkPolicy"]  # fmt: skip


def children(kube: KubeClient, namespace: str, name: str) -> dict[tuple[str, str], dict[str, Any]]:
    selector = f"{n.INSTANCE}={name},{n.MANAGED_BY}={n.FIELD_MANAGER}"
    return {
        (kind, obj["metadata"]["name"]): obj
        for kind in CHILD_KINDS
        for obj in kube.list(kind, namespace, selector)
    }


def condition(app: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in app.get("status", {}).get("conditions", []) if c["type"] == type_), None)


def expected_children(kube: KubeClient, namespace: str, name: str) -> list[dict[str, Any]]:
    return render(parse_application(kube.get(KIND, namespace, name)))


def converged(kube: KubeClient, namespace: str, name: str) -> bool:
    """Every rendered child is live and carries what render() says (live may add defaults)."""
    body = kube.get(KIND, namespace, name)
    if body is None or body.get("status", {}).get("observedGeneration") != body["metadata"]["generation"]:
        return False
    live = children(kube, namespace, name)
    desired = render(parse_application(body))
    if len(live) != len(desired):
        return False
    for manifest in desired:
        obj = live.get((manifest["kind"], manifest["metadata"]["name"]))
        body_fields = {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind", "metadata")}
        if obj is None or not is_subset(body_fields, obj):
            return False
    return True


def test_create_makes_every_child_and_reports_ready(
    operator, kube: KubeClient, namespace: str, app_doc, wait
) -> None:
    kube.create(app_doc("support", namespace, {"spec": {"scaling": {"minReplicas": 1, "maxReplicas": 3}}}))
    wait(lambda: converged(kube, namespace, "support"), 60, "children converged\n" + operator.log())
    live = children(kube, namespace, "support")
    assert sorted(k for k, _ in live) == sorted([*CHILD_KINDS, "Service"])  # the app's and <app>-metrics
    for obj in live.values():
        (owner,) = obj["metadata"]["ownerReferences"]
        assert owner["kind"] == KIND and owner["name"] == "support" and owner["controller"]
        managers = {
            m["manager"] for m in obj["metadata"].get("managedFields", []) if m["operation"] == "Apply"
        }
        assert managers == {n.FIELD_MANAGER}
    sa = live[("ServiceAccount", "support")]
    assert (
        sa["metadata"]["annotations"][n.WORKLOAD_IDENTITY_CLIENT_ID] == "00000000-0000-0000-0000-000000000001"
    )
    # Pods really run (KWOK node) under the namespace's `restricted` Pod Security admission.
    body = wait(
        lambda: (
            (b := kube.get(KIND, namespace, "support"))
            and (condition(b, "Ready") or {}).get("status") == "True"
            and b
        ),
        60,
        "Ready=True\n" + operator.log(),
    )
    status = body["status"]
    assert status["endpoint"] == f"http://support.{namespace}.svc:8000"
    assert status["replicas"] >= 1 and status["revision"]["current"]
    assert {c["type"] for c in status["conditions"]} == {
        "Ready",
        "Progressing",
        "Degraded",
        "LoadTestPassed",
        "EvaluationPassed",
    }
    events = kube.list("Event", namespace)
    assert any(e["reason"] == "Deployed" and e["involvedObject"]["name"] == "support" for e in events)
    # The Azure wiring: the issuer is the API server's own, read from its OIDC discovery document.
    issuer = kube.request("GET", "/.well-known/openid-configuration")["issuer"]
    azure = status["azure"]
    assert azure["oidcIssuer"] == issuer
    assert azure["serviceAccountSubject"] == f"system:serviceaccount:{namespace}:support"
    assert f"--issuer {issuer}" in azure["federatedCredentialCommand"]


def test_update_changes_children_and_observed_generation(
    operator, kube: KubeClient, namespace: str, app_doc, wait
) -> None:
    kube.create(app_doc("upd", namespace, {"spec": {"rollout": {"strategy": "Immediate"}}}))
    wait(lambda: converged(kube, namespace, "upd"), 60, "first convergence\n" + operator.log())
    updated = kube.request(
        "PATCH",
        kube.path(KIND, namespace, "upd"),
        body={"spec": {"scaling": {"maxReplicas": 7}, "image": "registry.example/chat:2.0.0"}},
        content_type="application/merge-patch+json",
    )
    generation = updated["metadata"]["generation"]
    wait(lambda: converged(kube, namespace, "upd"), 60, "second convergence\n" + operator.log())
    body = kube.get(KIND, namespace, "upd")
    assert body["status"]["observedGeneration"] == generation
    assert kube.get("HorizontalPodAutoscaler", namespace, "upd")["spec"]["maxReplicas"] == 7
    deployment = kube.get("Deployment", namespace, "upd")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/chat:2.0.0"
    config_maps = [k for k in children(kube, namespace, "upd") if k[0] == "ConfigMap"]
    assert len(config_maps) == 1, "the previous revision's ConfigMap is pruned"


def test_hand_deleted_and_hand_edited_children_are_repaired(
    operator, kube: KubeClient, namespace: str, app_doc, wait
) -> None:
    kube.create(app_doc("drift", namespace))
    wait(lambda: converged(kube, namespace, "drift"), 60, "convergence\n" + operator.log())
    kube.delete("NetworkPolicy", namespace, "drift")
    wait(
        lambda: kube.get("NetworkPolicy", namespace, "drift"),
        20,
        "NetworkPolicy re-created\n" + operator.log(),
    )
    kube.request(
        "PATCH",
        kube.path("Deployment", namespace, "drift"),
        body={"spec": {"template": {"spec": {"containers": [{"name": "chat", "image": "evil:latest"}]}}}},
        content_type="application/strategic-merge-patch+json",
    )
    kube.request(
        "PATCH",
        kube.path("Service", namespace, "drift"),
        body={"spec": {"selector": {n.TRACK: "canary"}}},
        content_type="application/merge-patch+json",
    )

    def repaired() -> bool:
        image = kube.get("Deployment", namespace, "drift")["spec"]["template"]["spec"]["containers"][0][
            "image"
        ]
        selector = kube.get("Service", namespace, "drift")["spec"]["selector"]
        return image == "registry.example/chat:1.0.0" and selector[n.TRACK] == "stable"

    wait(repaired, 20, "hand edits reverted\n" + operator.log())


def test_unchanged_resync_writes_nothing(operator, kube: KubeClient, namespace: str, app_doc, wait) -> None:
    kube.create(app_doc("steady", namespace, {"spec": {"scaling": {"minReplicas": 1}}}))
    wait(lambda: converged(kube, namespace, "steady"), 60, "convergence\n" + operator.log())
    wait(
        lambda: (condition(kube.get(KIND, namespace, "steady"), "Ready") or {}).get("status") == "True",
        60,
        "Ready\n" + operator.log(),
    )
    time.sleep(2)  # let the Deployment status settle

    def versions() -> dict[Any, str]:
        live = children(kube, namespace, "steady")
        # a Deployment's and an HPA's resourceVersion move with their status (controller manager; the HPA
        # controller syncs every 5 s here): for them, what the operator owns is the spec
        out = {
            k: json.dumps(v["spec"], sort_keys=True)
            if k[0] in ("Deployment", "HorizontalPodAutoscaler")
            else v["metadata"]["resourceVersion"]
            for k, v in live.items()
        }
        app = kube.get(KIND, namespace, "steady")
        out["app"] = app["metadata"]["resourceVersion"]
        return out

    before = versions()
    time.sleep(7)  # > two resync periods (CHATFLEET_OPERATOR_RESYNC_SECONDS=3)
    assert versions() == before


def test_reconcile_of_an_unchanged_resource_makes_zero_writes(
    cluster, crd, kube: KubeClient, private_namespace: str, app_doc, wait
) -> None:
    """In-process, counting the operator's own API calls (no operator watches this namespace)."""
    counted = KubeClient(cluster.api_client())
    ctx = OperatorContext(
        settings=OperatorSettings(),
        kube=counted,
        runner=JobRunner(counted),
        executor=None,  # type: ignore[arg-type]
    )
    kube.create(app_doc("count", private_namespace))
    reconcile(ctx, kube.get(KIND, private_namespace, "count"))
    assert counted.writes == 8 + 1 + 1, counted.calls  # eight children, the status, the "Deployed" event

    def settled() -> bool:
        status = kube.get("Deployment", private_namespace, "count").get("status", {})
        return status.get("availableReplicas", 0) >= 1 and status.get("updatedReplicas") == status.get(
            "replicas"
        )

    wait(settled, 60, "Deployment available on the KWOK node")
    writes = counted.writes
    reconcile(ctx, kube.get(KIND, private_namespace, "count"))
    assert counted.writes - writes == 1, "only the status changes: the Deployment became available"
    writes, reads = counted.writes, counted.reads
    reconcile(ctx, kube.get(KIND, private_namespace, "count"))
    assert counted.writes == writes, counted.calls
    assert counted.reads - reads == 9  # 3 label-selected lists + 6 gets (4 children, Ingress, HTTPRoute)
    body = kube.get(KIND, private_namespace, "count")
    assert next(c for c in body["status"]["conditions"] if c["type"] == "Ready")["status"] == "True"


def test_delete_leaves_nothing_behind(operator, kube: KubeClient, namespace: str, app_doc, wait) -> None:
    kube.create(app_doc("gone", namespace))
    wait(lambda: converged(kube, namespace, "gone"), 60, "convergence\n" + operator.log())
    kube.delete(KIND, namespace, "gone")
    wait(lambda: not children(kube, namespace, "gone"), 60, "garbage collection")
    assert kube.get(KIND, namespace, "gone") is None


def test_liveness_endpoint_answers(operator, wait) -> None:
    def alive() -> bool:
        try:
            return httpx.get(operator.liveness, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait(alive, 30, "liveness endpoint\n" + operator.log())


def test_metrics_count_reconciles_after_a_create(
    operator, kube: KubeClient, namespace: str, app_doc, wait
) -> None:
    """The operator's /metrics, scraped over HTTP after real reconciles against the API server."""

    def scrape() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        text = httpx.get(operator.metrics, timeout=5).text
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    kube.create(app_doc("metered", namespace))
    wait(lambda: converged(kube, namespace, "metered"), 60, "children converged\n" + operator.log())
    samples = wait(
        lambda: (
            (s := scrape())
            and s[("chatfleet_operator_reconciles_total", frozenset({("outcome", "ok")}))] >= 1
            and s
        ),
        30,
        "a counted reconcile\n" + operator.log(),
    )
    assert samples[("chatfleet_operator_reconcile_duration_seconds_count", frozenset())] >= 1
    assert samples[("chatfleet_operator_reconcile_duration_seconds_sum", frozenset())] > 0
    assert ("chatfleet_operator_reconciles_total", frozenset({("outcome", "error")})) in samples
    assert samples[("chatfleet_operator_reconciles_in_flight", frozenset())] >= 0
    assert samples[("chatfleet_operator_queue_depth", frozenset())] >= 0
