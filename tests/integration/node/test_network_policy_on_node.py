"""NetworkPolicy enforced on the real node (kube-router's policy controller): the policy the operator renders
for a chat app denies by default, as on AKS with a policy engine.

One app (operator-rendered, with its simulator) in one namespace, a prober pod in another. Every refusal is
paired with the same connection from a pod the policy does not select, which succeeds: so a failure means
the policy, not a broken network.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client

from chatfleet.controller import naming as n
from chatfleet.controller.render import CONTAINER_SECURITY
from chatfleet.devcluster.cluster import LocalCluster

from .conftest import (
    SIMULATOR_PORT,
    NodeImages,
    PodIssuer,
    chat_app,
    create_app,
    deploy_simulator,
    namespace_report,
    new_namespace,
    ready_pods,
)

pytestmark = pytest.mark.timeout(600)
APP = "fenced"
PROBER_PORT = 9000
# Connects to host:port within 3 s; exit 0 when open, 1 when refused, reset or silent.
CONNECT = (
    "import socket, sys\n"
    "try:\n"
    "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()\n"
    "except OSError as error:\n"
    "    print(type(error).__name__, error); sys.exit(1)\n"
)
RESOLVE = "import socket, sys; print(socket.gethostbyname(sys.argv[1]))"
HTTP_GET = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).status)"


@dataclass(frozen=True)
class Fence:
    cluster: LocalCluster
    app_namespace: str
    other_namespace: str
    chat_pod: str
    chat_ip: str
    simulator_pod: str
    simulator_ip: str
    prober_pod: str
    prober_ip: str

    def run(self, namespace: str, pod: str, *command: str) -> subprocess.CompletedProcess[str]:
        """`kubectl exec` in the pod's first container; the caller reads the exit code."""
        return subprocess.run(
            [str(self.cluster.kubectl), "exec", "-n", namespace, pod, "--", *command],
            env=self.cluster.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def connects(self, namespace: str, pod: str, host: str, port: int) -> bool:
        result = self.run(namespace, pod, "python", "-c", CONNECT, host, str(port))
        assert result.returncode in (0, 1), result.stderr  # 1: refused; anything else: exec itself failed
        return result.returncode == 0


def _prober(namespace: str, image: str) -> dict[str, object]:
    """A pod of another team: the chat image's Python, listening on PROBER_PORT."""
    serve = (
        "import socket\n"
        "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        f"s.bind(('0.0.0.0', {PROBER_PORT})); s.listen(16)\n"
        "while True: s.accept()[0].close()\n"
    )
    return {
        "metadata": {"name": "prober", "namespace": namespace, "labels": {"app": "prober"}},
        "spec": {
            "containers": [
                {
                    "name": "prober",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": ["python", "-c", serve],
                    "securityContext": CONTAINER_SECURITY,
                }
            ],
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "terminationGracePeriodSeconds": 1,
        },
    }


@pytest.fixture(scope="module")
def fence(
    real_cluster: LocalCluster, images: NodeImages, operator: Path, pod_issuer: PodIssuer
) -> Iterator[Fence]:
    api = real_cluster.api_client()
    core = client.CoreV1Api(api)
    app_namespace = new_namespace(api, pod_issuer)
    other_namespace = f"other-{uuid.uuid4().hex[:6]}"
    core.create_namespace(
        {
            "metadata": {
                "name": other_namespace,
                "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
            }
        }
    )
    try:
        simulator = deploy_simulator(api, app_namespace, images.chat)
        app = chat_app(APP, app_namespace, images.chat, pod_issuer, simulator)
        app["spec"]["scaling"] = {"minReplicas": 1, "maxReplicas": 1}
        create_app(api, app)
        core.create_namespaced_pod(other_namespace, _prober(other_namespace, images.chat))
        try:
            (chat,) = ready_pods(api, app_namespace, f"{n.INSTANCE}={APP}", 1)
            (sim,) = ready_pods(api, app_namespace, "app.kubernetes.io/name=simulator", 1)
            (prober,) = ready_pods(api, other_namespace, "app=prober", 1)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{namespace_report(real_cluster, app_namespace)}") from None
        policies = client.NetworkingV1Api(api).list_namespaced_network_policy(app_namespace).items
        assert APP in {p.metadata.name for p in policies}, "the operator rendered no NetworkPolicy"
        yield Fence(
            real_cluster,
            app_namespace,
            other_namespace,
            chat.metadata.name,
            chat.status.pod_ip,
            sim.metadata.name,
            sim.status.pod_ip,
            prober.metadata.name,
            prober.status.pod_ip,
        )
    finally:
        core.delete_namespace(app_namespace)
        core.delete_namespace(other_namespace)


def test_a_pod_of_another_namespace_cannot_reach_the_chat_pods(fence: Fence) -> None:
    # the prober reaches an unfenced pod of the app's namespace: the network itself works
    assert fence.connects(fence.other_namespace, fence.prober_pod, fence.simulator_ip, SIMULATOR_PORT)
    # but not the chat pod, neither its chat port nor its metrics port
    assert not fence.connects(fence.other_namespace, fence.prober_pod, fence.chat_ip, n.CHAT_PORT)
    assert not fence.connects(fence.other_namespace, fence.prober_pod, fence.chat_ip, n.METRICS_PORT)
    # nor through its Service (kube-proxy rewrites to the pod address, the policy still applies)
    service = f"{n.stable_name(APP)}.{fence.app_namespace}.svc.cluster.local"
    assert not fence.connects(fence.other_namespace, fence.prober_pod, service, n.CHAT_PORT)


def test_a_chat_pod_reaches_only_dns_and_its_allowed_egress(fence: Fence) -> None:
    ns, pod = fence.app_namespace, fence.chat_pod
    simulator = f"sim.{ns}.svc.cluster.local"
    # DNS (the cluster's CoreDNS through the kube-dns Service)
    resolved = fence.run(ns, pod, "python", "-c", RESOLVE, simulator)
    assert resolved.returncode == 0, resolved.stderr
    # its upstream, the model endpoint of its spec
    answered = fence.run(ns, pod, "python", "-c", HTTP_GET, f"http://{simulator}:{SIMULATOR_PORT}/_sim/state")
    assert answered.stdout.strip() == "200", answered.stderr
    # nothing else: a listening pod of another namespace, which the unfenced simulator pod does reach
    assert fence.connects(ns, fence.simulator_pod, fence.prober_ip, PROBER_PORT)
    assert not fence.connects(ns, pod, fence.prober_ip, PROBER_PORT)
