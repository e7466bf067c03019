"""The real-node tier: one LocalCluster with a real kubelet, containerd and runc for the whole tier.

The images are built by BuildKit from images/ (cached: an unchanged tree rebuilds nothing) and imported
into the node's containerd before the kubelet starts. Only one real node can run on a machine at a time.
"""

from __future__ import annotations

import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from chatfleet.contracts.resource import GROUP, PLURAL, VERSION
from chatfleet.controller.crd import crd_manifest
from chatfleet.controller.render import CONTAINER_SECURITY
from chatfleet.devcluster.cluster import LocalCluster
from chatfleet.devcluster.images import build_images
from chatfleet.devcluster.node import BRIDGE, NODE_IP
from tests.helpers.http_stub import JsonHandler
from tests.helpers.processes import stop
from tests.helpers.token_endpoint import self_signed
from tests.helpers.tokens import LoopbackIssuer
from tests.helpers.waiting import eventually

TENANT = "contoso"  # a tenant of the packaged sample corpus every pod ingests
SIMULATOR_PORT = 8080


@dataclass(frozen=True)
class NodeImages:
    """Image references present in the node's containerd."""

    chat: str
    operator: str
    loadtest: str


def kubectl(cluster: LocalCluster, *args: str, timeout: float = 60) -> str:
    """Runs the node's own kubectl (built from source with the cluster) and returns its stdout."""
    result = subprocess.run(
        [str(cluster.kubectl), *args],
        env=cluster.env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result.stdout


@pytest.fixture(scope="session")
def built_images() -> Any:
    return build_images()


@pytest.fixture(scope="session")
def images(built_images: Any) -> NodeImages:
    return NodeImages(
        chat=built_images.chat.ref, operator=built_images.operator.ref, loadtest=built_images.loadtest.ref
    )


# Package scope: the node is stopped when the tier ends, so `chatfleet up` (tests/integration/stack), which
# starts its own real node, finds the machine's one node free.
@pytest.fixture(scope="package")
def real_cluster(built_images: Any) -> Iterator[LocalCluster]:
    with LocalCluster(nodes=0, real_node=True, images=built_images) as local:
        yield local


@pytest.fixture(scope="package")
def operator(real_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The CRD installed and the operator (a host process, like the control plane) watching `ex-*`
    namespaces with short timers; yields its log file."""
    extensions = client.ApiextensionsV1Api(real_cluster.api_client())
    manifest = crd_manifest()
    try:
        extensions.create_custom_resource_definition(manifest)
    except client.exceptions.ApiException as error:
        if error.status != 409:  # installed by an earlier test of this node (the autoscaler's): the same CRD
            raise

    def established() -> bool:
        conditions = extensions.read_custom_resource_definition(
            manifest["metadata"]["name"]
        ).status.conditions
        return any(c.type == "Established" and c.status == "True" for c in conditions or [])

    eventually(established, 30, "CRD Established")
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    settings = {"CHATFLEET_OPERATOR_RESYNC_SECONDS": "3", "CHATFLEET_OPERATOR_GATE_POLL_SECONDS": "1"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "chatfleet", "operator", "run", "--namespace", "ex-*"],
            env={**real_cluster.env(), **settings},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    yield log
    stop(process, 15)


@dataclass(frozen=True)
class PodIssuer:
    """An Entra-like OIDC issuer the pods reach over HTTPS on the node address (its CA in `ca_pem`)."""

    tokens: LoopbackIssuer
    ca_pem: str

    @property
    def url(self) -> str:
        return self.tokens.issuer


@pytest.fixture(scope="package")
def pod_issuer(real_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodIssuer]:
    """OIDC discovery and JWKS on https://<node address>:<port>/contoso/v2.0, as login.microsoftonline.com
    serves them; apps trust its certificate through spec.trustBundle."""
    tokens = LoopbackIssuer("", "api://node-chat", tid=TENANT, oid="node-user", scp="Chat.Use")

    class Handler(JsonHandler):
        def do_GET(self) -> None:
            if self.path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
                self.send_json(200, {"issuer": tokens.issuer, "jwks_uri": f"{tokens.issuer}/keys"})
            elif self.path == f"/{TENANT}/v2.0/keys":
                tokens.requests += 1
                self.send_json(200, tokens.jwks())
            else:
                self.send_json(404, {"error": "not_found"})

    cert_file, key_file = self_signed(tmp_path_factory.mktemp("issuer"), NODE_IP)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server = ThreadingHTTPServer((NODE_IP, 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    tokens.issuer = f"https://{NODE_IP}:{server.server_address[1]}/{TENANT}/v2.0"
    threading.Thread(target=server.serve_forever, name="pod-issuer", daemon=True).start()
    yield PodIssuer(tokens, cert_file.read_text())
    server.shutdown()
    server.server_close()


def deploy_simulator(api: client.ApiClient, namespace: str, image: str, *args: str) -> str:
    """The Azure OpenAI simulator as a Deployment + Service `sim` from the chat image; returns its
    in-cluster endpoint (http is allowed for `*.svc` names)."""
    labels = {"app.kubernetes.io/name": "simulator"}
    container = {
        "name": "simulator",
        "image": image,
        "imagePullPolicy": "Never",
        "args": ["simulator", "--host", "0.0.0.0", "--port", str(SIMULATOR_PORT), *args],
        "ports": [{"containerPort": SIMULATOR_PORT}],
        "readinessProbe": {"tcpSocket": {"port": SIMULATOR_PORT}, "periodSeconds": 1},
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    client.AppsV1Api(api).create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "sim", "labels": labels},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [container],
                        "volumes": [{"name": "tmp", "emptyDir": {}}],
                        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    },
                },
            },
        },
    )
    client.CoreV1Api(api).create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "sim"},
            # port = targetPort: the chat pods' NetworkPolicy allows the endpoint URL's port, and policy
            # ports are the pods' own (after kube-proxy's DNAT), as on every enforcing cluster
            "spec": {"selector": labels, "ports": [{"port": SIMULATOR_PORT, "targetPort": SIMULATOR_PORT}]},
        },
    )
    return f"http://sim.{namespace}.svc.cluster.local:{SIMULATOR_PORT}"


def chat_app(name: str, namespace: str, image: str, issuer: PodIssuer, simulator: str) -> dict[str, Any]:
    """A ChatApplication whose pods answer for real on the node: tokens from `issuer` (trusted through
    spec.trustBundle), answers from the in-cluster simulator, the packaged sample corpus."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ChatApplication",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "image": image,
            "identity": {"clientId": "00000000-0000-0000-0000-000000000001"},
            "auth": {"issuer": issuer.url, "audience": issuer.tokens.audience},
            "tenants": [TENANT],
            "trustBundle": {"configMapRef": "issuer-ca"},
            "openai": {"deployments": [{"name": "sim", "endpoint": simulator, "deployment": "gpt-4o"}]},
            "scaling": {"minReplicas": 2, "maxReplicas": 2},
            "rollout": {"strategy": "Immediate"},
        },
    }


IMDS_ADDRESS = "169.254.169.254"
# The chat pods' own tokens come from the instance metadata address on this node (conftest.pod_identity; on
# AKS from Entra on 443 through workload identity), so each test namespace adds the egress a platform team
# on IMDS-based identity would: NetworkPolicies are additive to the one the operator renders.
INSTANCE_METADATA_EGRESS = {
    "metadata": {"name": "allow-instance-metadata"},
    "spec": {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "chatfleet-chat"}},
        "policyTypes": ["Egress"],
        "egress": [
            {"to": [{"ipBlock": {"cidr": f"{IMDS_ADDRESS}/32"}}], "ports": [{"protocol": "TCP", "port": 80}]}
        ],
    },
}


def new_namespace(api: client.ApiClient, issuer: PodIssuer) -> str:
    """An `ex-*` namespace (the operator watches it) under restricted Pod Security, with the issuer's CA
    and the chat pods' egress to the instance metadata address."""
    core = client.CoreV1Api(api)
    namespace = f"ex-{uuid.uuid4().hex[:6]}"
    labels = {"pod-security.kubernetes.io/enforce": "restricted"}
    core.create_namespace({"metadata": {"name": namespace, "labels": labels}})
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "issuer-ca"}, "data": {"ca.crt": issuer.ca_pem}}
    )
    client.NetworkingV1Api(api).create_namespaced_network_policy(namespace, INSTANCE_METADATA_EGRESS)
    return namespace


def create_app(api: client.ApiClient, doc: dict[str, Any]) -> None:
    namespace = doc["metadata"]["namespace"]
    client.CustomObjectsApi(api).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, doc)


def ready_pods(
    api: client.ApiClient, namespace: str, selector: str, count: int, timeout: float = 300
) -> list[Any]:
    """Waits until exactly `count` pods matching `selector` run with every container ready."""
    core = client.CoreV1Api(api)

    def ready() -> list[Any]:
        pods = core.list_namespaced_pod(namespace, label_selector=selector).items
        running = [p for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp]
        done = [p for p in running if all(c.ready for c in p.status.container_statuses or [])]
        return done if len(done) == count else []

    return eventually(ready, timeout, f"{namespace}: {count} ready pods of {selector}")


def namespace_report(cluster: LocalCluster, namespace: str) -> str:
    """Pods, events and each container's last log lines: what a failed node test needs to be read."""
    parts = [kubectl(cluster, "get", "pods,events", "-n", namespace, "-o", "wide")]
    core = client.CoreV1Api(cluster.api_client())
    for pod in core.list_namespaced_pod(namespace).items:
        for container in pod.spec.containers:
            try:
                tail = core.read_namespaced_pod_log(
                    pod.metadata.name, namespace, container=container.name, tail_lines=25
                )
            except client.ApiException as error:
                tail = f"(no log: {error.status})"
            parts.append(f"--- {pod.metadata.name}/{container.name}\n{tail}")
    return "\n".join(parts)


@pytest.fixture(scope="package")
def pod_identity(real_cluster: LocalCluster, pod_issuer: PodIssuer) -> Iterator[list[str]]:
    """Entra tokens for the pods' own calls (Azure OpenAI: the simulator takes any bearer token).

    On AKS the workload identity webhook gives each pod a federated token to exchange; no webhook runs on
    this node, so the pods' DefaultAzureCredential finds the other source it knows without configuration,
    the instance metadata endpoint (169.254.169.254, as on an Azure VM), served here on the pod bridge with
    tokens of the test issuer. Yields the resources asked for."""
    asked: list[str] = []

    class Handler(JsonHandler):
        def do_GET(self) -> None:
            if self.headers.get("Metadata") != "true":  # azure-identity's probe expects IMDS's 400
                self.send_json(400, {"error": "invalid_request", "error_description": "Metadata header"})
                return
            resource = self.path.partition("resource=")[2].partition("&")[0]
            asked.append(resource)
            now = int(time.time())
            token = pod_issuer.tokens.token(aud=resource, exp=now + 3600)
            self.send_json(
                200,
                {
                    "access_token": token,
                    "expires_in": "3600",
                    "expires_on": str(now + 3600),
                    "resource": resource,
                    "token_type": "Bearer",
                },
            )

    # on the bridge: removed with it when the node stops, even after a crash
    subprocess.run(["ip", "addr", "add", f"{IMDS_ADDRESS}/32", "dev", BRIDGE], check=True)
    server = ThreadingHTTPServer((IMDS_ADDRESS, 80), Handler)
    threading.Thread(target=server.serve_forever, name="imds", daemon=True).start()
    yield asked
    server.shutdown()
    server.server_close()
    subprocess.run(["ip", "addr", "del", f"{IMDS_ADDRESS}/32", "dev", BRIDGE], check=False)
