"""`helm install`, `upgrade` and `uninstall` of the chart against a real API server (this folder's own)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from chatfleet.contracts.resource import CRD_NAME, GROUP, PLURAL, VERSION
from chatfleet.devcluster.cluster import LocalCluster
from chatfleet.paths import EXAMPLES_DIR, HELM_DIR
from tests.helpers.waiting import eventually

CHART = HELM_DIR / "chatfleet"
RELEASE = "cf"
SYSTEM = "chatfleet-system"
TEAM = "team-a"
SA_USER = f"system:serviceaccount:{SYSTEM}:cf-chatfleet"
CONCERNS = ("autoscaling", "chatapplications", "events", "loadtests", "network", "peering", "workloads")
RELEASE_SELECTOR = f"app.kubernetes.io/instance={RELEASE}"
API_SERVER_IP, API_SERVER_PORT = "10.224.0.4", 16443


@pytest.fixture(scope="module")
def api(release_cluster: LocalCluster) -> ApiClient:
    return release_cluster.api_client()


def allowed(api: ApiClient, user: str, verb: str, group: str, resource: str, namespace: str = "") -> bool:
    """The API server's own RBAC decision for `user` (a SubjectAccessReview, as `kubectl auth can-i`)."""
    review = client.AuthorizationV1Api(api).create_subject_access_review(
        {
            "spec": {
                "user": user,
                "groups": ["system:authenticated"],
                "resourceAttributes": {
                    "verb": verb,
                    "group": group,
                    "resource": resource,
                    "namespace": namespace,
                },
            }
        }
    )
    return bool(review.status.allowed)


def release_objects(api: ApiClient) -> set[str]:
    """Every object carrying the release's instance label, cluster-wide, as kind/namespace/name."""
    core, apps, rbac = client.CoreV1Api(api), client.AppsV1Api(api), client.RbacAuthorizationV1Api(api)
    net, policy = client.NetworkingV1Api(api), client.PolicyV1Api(api)
    custom, ext = client.CustomObjectsApi(api), client.ApiextensionsV1Api(api)
    found: set[str] = set()
    listings = {
        "ServiceAccount": core.list_service_account_for_all_namespaces,
        "ConfigMap": core.list_config_map_for_all_namespaces,
        "Deployment": apps.list_deployment_for_all_namespaces,
        "Role": rbac.list_role_for_all_namespaces,
        "RoleBinding": rbac.list_role_binding_for_all_namespaces,
        "ClusterRole": rbac.list_cluster_role,
        "ClusterRoleBinding": rbac.list_cluster_role_binding,
        "NetworkPolicy": net.list_network_policy_for_all_namespaces,
        "PodDisruptionBudget": policy.list_pod_disruption_budget_for_all_namespaces,
        "CustomResourceDefinition": ext.list_custom_resource_definition,
    }
    for kind, listing in listings.items():
        for item in listing(label_selector=RELEASE_SELECTOR).items:
            found.add(f"{kind}/{item.metadata.namespace or ''}/{item.metadata.name}")
    for plural, kind in (("clusterkopfpeerings", "ClusterKopfPeering"), ("kopfpeerings", "KopfPeering")):
        listing = custom.list_cluster_custom_object("kopf.dev", "v1", plural, label_selector=RELEASE_SELECTOR)
        for item in listing["items"]:
            found.add(f"{kind}/{item['metadata'].get('namespace', '')}/{item['metadata']['name']}")
    return found


def crd_exists(api: ApiClient) -> bool:
    try:
        client.ApiextensionsV1Api(api).read_custom_resource_definition(CRD_NAME)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def publish_api_server_endpoints(api: ApiClient) -> None:
    """The `kubernetes` EndpointSlice a real cluster's API server publishes for itself.

    The local API server advertises 127.0.0.1, a loopback address it never publishes, so the slice is
    created here in the shape kube-apiserver writes it; the chart's install-time lookup then reads it.
    """
    client.DiscoveryV1Api(api).create_namespaced_endpoint_slice(
        "default",
        {
            "metadata": {"name": "kubernetes", "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [API_SERVER_IP], "conditions": {"ready": True}}],
            "ports": [{"name": "https", "port": API_SERVER_PORT, "protocol": "TCP"}],
        },
    )


def apply_sample_app(api: ApiClient) -> None:
    body = yaml.safe_load((EXAMPLES_DIR / "minimal.yaml").read_text())
    body["metadata"]["namespace"] = TEAM
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, TEAM, PLURAL, body
    )


def test_install_upgrade_uninstall(
    release_cluster: LocalCluster, api: ApiClient, helm_cli: Callable[..., str]
) -> None:
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": TEAM}})
    publish_api_server_endpoints(api)

    # --- install (defaults: cluster-wide, 2 replicas, CRD kept on uninstall) -------------------------
    notes = helm_cli(release_cluster, "install", RELEASE, str(CHART), "-n", SYSTEM, "--create-namespace")
    assert "kubectl get chatapp -A" in notes
    installed = release_objects(api)
    expected = {
        f"CustomResourceDefinition//{CRD_NAME}",
        f"ServiceAccount/{SYSTEM}/cf-chatfleet",
        f"Deployment/{SYSTEM}/cf-chatfleet-operator",
        f"NetworkPolicy/{SYSTEM}/cf-chatfleet-operator",
        f"PodDisruptionBudget/{SYSTEM}/cf-chatfleet-operator",
        "ClusterKopfPeering//chatfleet",
        "ClusterRole//cf-chatfleet-discovery",
        "ClusterRole//cf-chatfleet-chatapplications-edit",
        "ClusterRole//cf-chatfleet-chatapplications-view",
        *(f"ClusterRole//cf-chatfleet-{c}" for c in CONCERNS),
        *(f"ClusterRoleBinding//cf-chatfleet-{c}" for c in (*CONCERNS, "discovery")),
    }
    assert installed == expected
    deployment = client.AppsV1Api(api).read_namespaced_deployment("cf-chatfleet-operator", SYSTEM)
    assert deployment.spec.replicas == 2
    # The install-time lookup found the API server's published address and port for the egress rule.
    policy = client.NetworkingV1Api(api).read_namespaced_network_policy("cf-chatfleet-operator", SYSTEM)
    api_rule = policy.spec.egress[0]
    assert [peer.ip_block.cidr for peer in api_rule.to] == [f"{API_SERVER_IP}/32"]
    assert {p.port for p in api_rule.ports} == {443, 6443, API_SERVER_PORT}

    # RBAC as the API server decides it: what the operator needs, nothing more.
    assert allowed(api, SA_USER, "patch", "apps", "deployments", TEAM)
    assert allowed(api, SA_USER, "patch", GROUP, f"{PLURAL}/status", TEAM)
    assert allowed(api, SA_USER, "create", "batch", "jobs", TEAM)
    assert allowed(api, SA_USER, "patch", "kopf.dev", "clusterkopfpeerings")
    assert not allowed(api, SA_USER, "get", "", "secrets", TEAM)
    assert not allowed(api, SA_USER, "delete", "", "pods", TEAM)
    assert not allowed(api, SA_USER, "create", GROUP, PLURAL, TEAM)
    # App teams with the built-in `edit` role can manage their apps (aggregated ClusterRole).
    client.RbacAuthorizationV1Api(api).create_namespaced_role_binding(
        TEAM,
        {
            "metadata": {"name": "alice-edit"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}],
        },
    )
    eventually(
        lambda: allowed(api, "alice", "create", GROUP, PLURAL, TEAM),
        60,
        "the edit role aggregates ChatApplication rights",
    )

    # --- upgrade: one replica, one watched namespace, a new label (the CRD upgrades with the release) --
    helm_cli(
        release_cluster,
        "upgrade",
        RELEASE,
        str(CHART),
        "-n",
        SYSTEM,
        "--reuse-values",
        "--set",
        "operator.replicaCount=1",
        "--set-json",
        f'operator.watchNamespaces=["{TEAM}"]',
        "--set",
        "commonLabels.cost-center=platform",
    )
    upgraded = release_objects(api)
    assert f"PodDisruptionBudget/{SYSTEM}/cf-chatfleet-operator" not in upgraded
    assert "ClusterKopfPeering//chatfleet" not in upgraded
    assert f"KopfPeering/{TEAM}/chatfleet" in upgraded
    assert {f"Role/{TEAM}/cf-chatfleet-{c}" for c in CONCERNS} <= upgraded
    assert not any(o.startswith("ClusterRole//cf-chatfleet-workloads") for o in upgraded)
    assert (
        client.AppsV1Api(api).read_namespaced_deployment("cf-chatfleet-operator", SYSTEM).spec.replicas == 1
    )
    crd = client.ApiextensionsV1Api(api).read_custom_resource_definition(CRD_NAME)
    assert crd.metadata.labels["cost-center"] == "platform"
    assert allowed(api, SA_USER, "patch", "apps", "deployments", TEAM)
    assert not allowed(api, SA_USER, "patch", "apps", "deployments", "default"), "namespace-scoped now"

    # --- uninstall with crds.keep=true: the CRD and the apps survive, nothing else does -------------
    apply_sample_app(api)
    helm_cli(release_cluster, "uninstall", RELEASE, "-n", SYSTEM, "--wait")
    eventually(
        lambda: release_objects(api) == {f"CustomResourceDefinition//{CRD_NAME}"}, 60, "only the kept CRD remains"
    )
    client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, TEAM, PLURAL, "hello-chat"
    )

    # --- reinstall adopts the kept CRD; with crds.keep=false, uninstall removes it (and the apps) -----
    helm_cli(release_cluster, "install", RELEASE, str(CHART), "-n", SYSTEM, "--set", "crds.keep=false")
    assert f"CustomResourceDefinition//{CRD_NAME}" in release_objects(api)
    # Helm decides from the release's manifest (no keep annotation now), not from the live object,
    # which still carries the adopted "keep" annotation.
    helm_cli(release_cluster, "uninstall", RELEASE, "-n", SYSTEM, "--wait")
    eventually(lambda: not crd_exists(api), 60, "the CRD is deleted")
    eventually(lambda: release_objects(api) == set(), 60, "nothing of the release is left")
    releases = json.loads(helm_cli(release_cluster, "list", "-A", "-a", "-o", "json"))
    assert releases == []
