"""The HTTPS entry on a real API server: every Ingress and HTTPRoute the operator can render, with the
NetworkPolicy that admits the controller, passes server-side dry-run (schema, defaults and the HTTPRoute
CRD's CEL rules). The Gateway API CRD is the standard channel's (tests/integration/controller/data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from chatfleet.controller.kube import KubeClient
from chatfleet.controller.naming import FIELD_MANAGER
from chatfleet.controller.render import render
from chatfleet.controller.spec import ChatApplication
from chatfleet.devcluster.cluster import LocalCluster
from tests.helpers.waiting import eventually

HTTPROUTE_CRD = Path(__file__).with_name("data") / "gateway.networking.k8s.io_httproutes.yaml"

ENTRIES: dict[str, dict[str, Any]] = {
    "app-routing-cert-manager": {
        "host": "support.contoso.com",
        "ingress": {
            "className": "webapprouting.kubernetes.azure.com",
            "certManagerClusterIssuer": "letsencrypt",
        },
    },
    "ingress-nginx-own-secret": {
        "host": "chat.fabrikam.example",
        "ingress": {"className": "nginx", "tlsSecretRef": "chat-tls", "annotations": {"x.example/y": "z"}},
        "controllerNamespace": "ingress-nginx",
    },
    "default-class-namespace-issuer": {"host": "a.example.com", "ingress": {"certManagerIssuer": "ca"}},
    "gateway": {
        "host": "support.contoso.com",
        "gateway": {"parentRef": {"name": "public", "namespace": "gateways", "sectionName": "https"}},
        "controllerNamespace": "gateways",
    },
    "gateway-same-namespace": {"host": "b.example.com", "gateway": {"parentRef": {"name": "gw"}}},
}


@pytest.fixture(scope="module")
def httproute_crd(cluster: LocalCluster) -> None:
    api = client.ApiextensionsV1Api(cluster.api_client())
    manifest = yaml.safe_load(HTTPROUTE_CRD.read_text())
    try:
        api.create_custom_resource_definition(manifest)
    except ApiException as error:
        if error.status != 409:
            raise

    def established() -> bool:
        conditions = api.read_custom_resource_definition(manifest["metadata"]["name"]).status.conditions or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    eventually(established, 30, "HTTPRoute CRD Established")


def dry_run_apply(kube: KubeClient, manifest: dict[str, Any]) -> dict[str, Any]:
    meta = manifest["metadata"]
    return kube.request(
        "PATCH",
        kube.path(manifest["kind"], meta["namespace"], meta["name"]),
        body=manifest,
        query={"fieldManager": FIELD_MANAGER, "force": "true", "dryRun": "All"},
        content_type="application/apply-patch+yaml",
    )


@pytest.mark.parametrize("case", sorted(ENTRIES))
def test_every_entry_passes_server_side_dry_run(
    case: str, kube: KubeClient, private_namespace: str, app_doc, crd, httproute_crd
) -> None:
    app = ChatApplication.model_validate(
        app_doc("entry", private_namespace, {"spec": {"exposure": ENTRIES[case]}})
    )
    children = {c["kind"]: c for c in render(app)}
    kind = "HTTPRoute" if "gateway" in ENTRIES[case] else "Ingress"
    accepted = dry_run_apply(kube, children[kind])
    assert accepted["spec"] == {**children[kind]["spec"], **accepted["spec"]}  # no field of ours dropped
    if kind == "Ingress":
        assert accepted["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    else:
        assert accepted["spec"]["rules"][0]["timeouts"]["request"] == "300s"
    policy = dry_run_apply(kube, children["NetworkPolicy"])
    namespaces = [
        peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
        for peer in policy["spec"]["ingress"][0]["from"]
    ]
    assert ENTRIES[case].get("controllerNamespace", "app-routing-system") in namespaces
