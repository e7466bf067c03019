"""Every manifest the chart renders, for each value set, is accepted by the real API server.

Server-side dry-run runs the API server's full validation and admission (schema, RBAC object shapes, CRD
structural rules) without persisting anything, so this is the check `kubectl apply --dry-run=server`
gives a platform team before an install.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from chatfleet.devcluster.cluster import LocalCluster

Manifest = dict[str, Any]
FIELD_MANAGER = "chatfleet-chart-test"

# The Prometheus Operator's CRD is not part of this project; the smallest structural CRD with the same
# group/version/kind lets the API server validate the ServiceMonitor object's envelope (its spec is
# accepted as-is, which is all a dry-run without the real operator can prove).
SERVICE_MONITOR_CRD: Manifest = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {
        "group": "monitoring.coreos.com",
        "scope": "Namespaced",
        "names": {"kind": "ServiceMonitor", "plural": "servicemonitors", "singular": "servicemonitor"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            }
        ],
    },
}

VALUE_SETS: dict[str, dict[str, Any]] = {
    "default": {},
    "namespace-scoped": {"operator.watchNamespaces": ["{ns}-a", "{ns}-b"]},
    "single-replica": {"operator.replicaCount": 1, "crds.keep": False},
    "metrics-adapter": {
        "metrics.prometheusAdapter.enabled": True,
        "metrics.prometheusAdapter.ttftSource": "gauge",
    },
    "service-monitor": {
        "metrics.serviceMonitor.enabled": True,
        "metrics.serviceMonitor.namespace": "{ns}-mon",
    },
    "pinned-and-narrowed": {
        "operator.image.digest": "sha256:" + "0" * 64,
        "networkPolicy.apiServer.cidrs": ["10.0.0.1/32"],
        "rbac.aggregateToDefaultRoles": False,
        "serviceAccount.annotations": {
            "azure.workload.identity/client-id": "00000000-0000-0000-0000-000000000000"
        },
    },
}


def _fill(value: Any, ns: str) -> Any:
    if isinstance(value, str):
        return value.format(ns=ns)
    if isinstance(value, list):
        return [_fill(v, ns) for v in value]
    return value


def _create_crd_if_absent(api: ApiClient, crd: Manifest) -> None:
    """CRDs are shared by the session's cluster: create only when missing, then wait until Established."""
    extensions = client.ApiextensionsV1Api(api)
    try:
        extensions.create_custom_resource_definition(crd)
    except ApiException as error:
        if error.status != 409:
            raise
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = extensions.read_custom_resource_definition(crd["metadata"]["name"]).status
        if any(c.type == "Established" and c.status == "True" for c in (status.conditions or [])):
            return
        time.sleep(0.2)
    raise AssertionError(f"CRD {crd['metadata']['name']} never became Established")


@pytest.fixture
def namespaces(cluster: LocalCluster) -> Iterator[Callable[[list[str]], None]]:
    core = client.CoreV1Api(cluster.api_client())
    created: list[str] = []

    def _create(names: list[str]) -> None:
        for name in names:
            core.create_namespace({"metadata": {"name": name}})
            created.append(name)

    yield _create
    for name in created:
        core.delete_namespace(name)


@pytest.mark.parametrize("value_set", list(VALUE_SETS))
def test_every_rendered_manifest_passes_server_side_dry_run(
    cluster: LocalCluster,
    helm_template: Callable[..., list[Manifest]],
    namespaces: Callable[[list[str]], None],
    value_set: str,
) -> None:
    ns = f"h6-{uuid.uuid4().hex[:8]}"
    values = {key: _fill(value, ns) for key, value in VALUE_SETS[value_set].items()}
    manifests = helm_template(values, namespace=ns)
    namespaces(sorted({ns} | {m["metadata"]["namespace"] for m in manifests if "namespace" in m["metadata"]}))

    api = cluster.api_client()
    # Custom resources need their CRDs to exist; those CRDs are dry-run like every other object as well.
    crds = [m for m in manifests if m["kind"] == "CustomResourceDefinition"]
    for crd in crds:
        if crd["spec"]["group"] == "kopf.dev":
            _create_crd_if_absent(api, crd)
    if any(m["kind"] == "ServiceMonitor" for m in manifests):
        _create_crd_if_absent(api, SERVICE_MONITOR_CRD)
    dynamic = DynamicClient(api)

    rejected = []
    for manifest in manifests:
        resource = dynamic.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
        try:
            dynamic.server_side_apply(
                resource,
                body=manifest,
                namespace=manifest["metadata"].get("namespace"),
                field_manager=FIELD_MANAGER,
                force_conflicts=True,
                dry_run="All",
            )
        except ApiException as error:
            rejected.append(f"{manifest['kind']}/{manifest['metadata']['name']}: {error.status} {error.body}")
    assert rejected == []
    assert len(manifests) >= 20, "the whole chart was rendered"


def test_operator_pod_passes_the_restricted_pod_security_standard(
    cluster: LocalCluster, helm_template: Callable[..., list[Manifest]]
) -> None:
    """The API server's PodSecurity admission, enforcing `restricted`, admits the operator's pod."""
    ns = f"h6-psa-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(cluster.api_client())
    core.create_namespace(
        {
            "metadata": {
                "name": ns,
                "labels": {
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                },
            }
        }
    )
    try:
        manifests = helm_template({}, namespace=ns)
        (deployment,) = [m for m in manifests if m["kind"] == "Deployment"]
        (account,) = [m for m in manifests if m["kind"] == "ServiceAccount"]
        core.create_namespaced_service_account(ns, account)  # pod admission looks it up
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "operator-psa-check", "namespace": ns},
            "spec": deployment["spec"]["template"]["spec"],
        }
        core.create_namespaced_pod(ns, pod, dry_run="All")
        # The check has teeth: the same pod with privilege escalation allowed is refused.
        container = pod["spec"]["containers"][0]
        container["securityContext"] = {**container["securityContext"], "allowPrivilegeEscalation": True}
        with pytest.raises(ApiException) as refused:
            core.create_namespaced_pod(ns, pod, dry_run="All")
        assert refused.value.status == 403 and "restricted" in refused.value.body
    finally:
        core.delete_namespace(ns)
