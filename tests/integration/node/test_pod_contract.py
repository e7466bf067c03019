"""What a pod gets from the real node (kubelet + containerd + runc), each promise checked on a running pod.

The pods run the project's own chat image (built here by BuildKit) with a small Python program instead of
the service, so each test reads exactly what the container saw: its environment, its mounts, its user,
its file system, its network.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from kubernetes import client

from chatfleet.devcluster.cluster import LocalCluster
from chatfleet.devcluster.node import NODE_IP, POD_CIDR
from tests.helpers.net import free_port
from tests.helpers.waiting import eventually

from .conftest import NodeImages, kubectl

pytestmark = pytest.mark.timeout(600)

# Serves /report (what the container sees) and /ready (200 once /tmp/ready exists) on :8080; on SIGTERM it
# reports to the test's listener and keeps running, so the kubelet must SIGKILL it after the grace period.
REPORTER = r"""
import json, os, signal, socket, sys, time, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

def notify(event):
    url = os.environ.get("NOTIFY_URL")
    if url:
        try:
            urllib.request.urlopen(url + "/" + event, data=b"", timeout=3)
        except OSError:
            pass

def on_term(_signum, _frame):
    print("got SIGTERM", flush=True)
    notify("sigterm")

signal.signal(signal.SIGTERM, on_term)

def read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except OSError as error:
        return "error: " + error.__class__.__name__

def writable(path):
    try:
        with open(path, "w") as handle:
            handle.write("x")
        return True
    except OSError:
        return False

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/ready":
            status = 200 if os.path.exists("/tmp/ready") else 503
            self.send_response(status); self.end_headers(); return
        body = json.dumps({
            "env": {k: v for k, v in os.environ.items() if k.startswith(("PLAIN", "FROM_", "CM_", "S_"))},
            "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
            "files": {p: read(p) for p in ("/etc/cm/greeting", "/etc/secret/token", "/var/run/tokens/api")},
            "root_writable": writable("/should-not-exist"),
            "tmp_writable": writable("/tmp/probe"),
            "hostname": socket.gethostname(),
            "ip": socket.gethostbyname(socket.gethostname()),
        }).encode()
        self.send_response(200); self.send_header("content-type", "application/json"); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

print("reporter listening on 8080", flush=True)
ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
"""


class Events:
    """A listener on the node address that pods call (preStop hook, SIGTERM handler) with what happened."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, float]] = []
        events = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                events.seen.append((self.path.strip("/"), time.monotonic()))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((NODE_IP, 0), Handler)
        self.url = f"http://{NODE_IP}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def times(self, event: str) -> list[float]:
        return [at for name, at in self.seen if name == event]


@pytest.fixture
def namespace(real_cluster: LocalCluster) -> Iterator[str]:
    core = client.CoreV1Api(real_cluster.api_client())
    name = f"node-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name, grace_period_seconds=0)


def reporter_pod(name: str, image: str, notify_url: str = "", **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "app",
        "image": image,
        "imagePullPolicy": "Never",
        "command": ["python", "-c", REPORTER],
        "env": [
            {"name": "PLAIN", "value": "plain-value"},
            {"name": "NOTIFY_URL", "value": notify_url},
            {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}}},
            {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "credentials", "key": "token"}}},
        ],
        "envFrom": [
            {"configMapRef": {"name": "settings"}, "prefix": "CM_"},
            {"secretRef": {"name": "credentials"}, "prefix": "S_"},
        ],
        "ports": [{"containerPort": 8080, "name": "http"}],
        "readinessProbe": {
            "httpGet": {"path": "/ready", "port": 8080},
            "periodSeconds": 1,
            "failureThreshold": 1,
        },
        "startupProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1, "failureThreshold": 30},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "cm", "mountPath": "/etc/cm", "readOnly": True},
            {"name": "secret", "mountPath": "/etc/secret", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "tokens", "mountPath": "/var/run/tokens", "readOnly": True},
        ],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "securityContext": {
                "runAsUser": 10001,
                "runAsGroup": 10001,
                "runAsNonRoot": True,
                "fsGroup": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 3,
            "containers": [container],
            "volumes": [
                {"name": "cm", "configMap": {"name": "settings"}},
                {"name": "secret", "secret": {"secretName": "credentials"}},
                {"name": "tmp", "emptyDir": {}},
                {
                    "name": "tokens",
                    "projected": {
                        "sources": [
                            {
                                "serviceAccountToken": {
                                    "path": "api",
                                    "audience": "api://chatfleet-test",
                                    "expirationSeconds": 3600,
                                }
                            }
                        ]
                    },
                },
            ],
            **spec,
        },
    }


def create_settings(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="settings"), data={"greeting": "hello"}),
    )
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="credentials"), string_data={"token": "s3cr3t"}),
    )


def start_pod(core: client.CoreV1Api, namespace: str, pod: dict[str, Any]) -> None:
    """Creates the pod and waits until the kubelet runs it."""
    core.create_namespaced_pod(namespace, pod)
    name = pod["metadata"]["name"]
    eventually(
        lambda: core.read_namespaced_pod(name, namespace).status.phase == "Running", 120, f"{name} Running"
    )


def pod_ready(core: client.CoreV1Api, namespace: str, name: str) -> bool:
    pod = core.read_namespaced_pod(name, namespace)
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def test_a_pod_gets_its_env_mounts_user_and_read_only_root(
    real_cluster: LocalCluster, namespace: str, images: NodeImages
) -> None:
    core = client.CoreV1Api(real_cluster.api_client())
    create_settings(core, namespace)
    start_pod(core, namespace, reporter_pod("reporter", images.chat))
    pod = core.read_namespaced_pod("reporter", namespace)
    assert pod.status.pod_ip and pod.status.pod_ip.startswith(POD_CIDR.rsplit(".", 2)[0])

    # kubectl exec: readiness is driven by the probe, which the test flips from inside the container.
    assert not pod_ready(core, namespace, "reporter")
    kubectl(real_cluster, "exec", "-n", namespace, "reporter", "--", "python", "-c", "open('/tmp/ready','w')")
    eventually(lambda: pod_ready(core, namespace, "reporter"), 30, "Ready after the probe passes")

    report = httpx.get(f"http://{pod.status.pod_ip}:8080/report", timeout=5).json()
    assert report["env"] == {
        "PLAIN": "plain-value",
        "FROM_CM": "hello",
        "FROM_SECRET": "s3cr3t",
        "CM_greeting": "hello",
        "S_token": "s3cr3t",
    }
    assert report["files"]["/etc/cm/greeting"] == "hello"
    assert report["files"]["/etc/secret/token"] == "s3cr3t"
    token = report["files"]["/var/run/tokens/api"]
    assert token.count(".") == 2, token  # a signed JWT from the API server's TokenRequest
    review = client.AuthenticationV1Api(real_cluster.api_client()).create_token_review(
        client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token, audiences=["api://chatfleet-test"]))
    )
    assert review.status.authenticated
    assert review.status.user.username == f"system:serviceaccount:{namespace}:default"
    assert (report["uid"], report["gid"]) == (10001, 10001)
    assert 10001 in report["groups"]
    assert report["root_writable"] is False
    assert report["tmp_writable"] is True
    assert report["ip"] == pod.status.pod_ip

    # kubectl logs
    logs = kubectl(real_cluster, "logs", "-n", namespace, "reporter")
    assert "reporter listening on 8080" in logs


def test_services_dns_and_port_forward(
    real_cluster: LocalCluster, namespace: str, images: NodeImages
) -> None:
    core = client.CoreV1Api(real_cluster.api_client())
    create_settings(core, namespace)
    core.create_namespaced_service(
        namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1ServiceSpec(
                selector={"app": "web"}, ports=[client.V1ServicePort(port=80, target_port=8080)]
            ),
        ),
    )
    start_pod(core, namespace, reporter_pod("web", images.chat))
    discovery = client.DiscoveryV1Api(real_cluster.api_client())

    def ready_endpoints() -> list[str]:
        slices = discovery.list_namespaced_endpoint_slice(
            namespace, label_selector="kubernetes.io/service-name=web"
        )
        return [
            address
            for item in slices.items
            for endpoint in item.endpoints or []
            if endpoint.conditions and endpoint.conditions.ready
            for address in endpoint.addresses
        ]

    assert ready_endpoints() == []  # not Ready yet: the Service sends it nothing
    kubectl(real_cluster, "exec", "-n", namespace, "web", "--", "python", "-c", "open('/tmp/ready','w')")
    pod_ip = core.read_namespaced_pod("web", namespace).status.pod_ip
    eventually(lambda: ready_endpoints() == [pod_ip], 30, "the pod in the Service's EndpointSlice")

    cluster_ip = core.read_namespaced_service("web", namespace).spec.cluster_ip
    # From the host, through kube-proxy's rules.
    assert eventually(lambda: _get_ok(f"http://{cluster_ip}/report"), 30, "ClusterIP from the host")
    # From a pod, by name, through CoreDNS and the ClusterIP (hairpin back to itself).
    fqdn = f"web.{namespace}.svc.cluster.local"
    resolved = kubectl(
        real_cluster, "exec", "-n", namespace, "web", "--", "python", "-c",
        f"import socket, urllib.request; print(socket.gethostbyname('{fqdn}'));"
        f"print(urllib.request.urlopen('http://web.{namespace}/report', timeout=5).status)",
    ).split()  # fmt: skip
    assert resolved == [cluster_ip, "200"]
    # From the host, asking the cluster DNS Service directly.
    assert _resolve(fqdn, "10.0.0.10") == cluster_ip
    # Names outside the cluster do not resolve: nothing leaves this machine.
    assert _resolve("example.com", "10.0.0.10") is None

    # kubectl port-forward to the pod.
    port = free_port()
    forward = subprocess.Popen(
        [str(real_cluster.kubectl), "port-forward", "-n", namespace, "pod/web", f"{port}:8080"],
        env=real_cluster.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        report = eventually(lambda: _get_json(f"http://127.0.0.1:{port}/report"), 30, "port-forward")
        assert report["ip"] == pod_ip
    finally:
        forward.terminate()
        forward.wait(10)


def test_pod_traffic_never_leaves_the_machine(
    real_cluster: LocalCluster, namespace: str, images: NodeImages
) -> None:
    """A connect from a pod to an address outside the pod and Service networks is dropped on the node."""
    core = client.CoreV1Api(real_cluster.api_client())
    create_settings(core, namespace)
    start_pod(core, namespace, reporter_pod("egress", images.chat))
    # TEST-NET-3 (RFC 5737): documentation addresses, routed nowhere; the drop rule must stop it first.
    out = kubectl(
        real_cluster, "exec", "-n", namespace, "egress", "--", "python", "-c",
        "import socket\ns = socket.socket(); s.settimeout(3)\n"
        "try:\n    s.connect(('203.0.113.7', 443)); print('connected')\n"
        "except OSError as e:\n    print(type(e).__name__)",
    ).strip()  # fmt: skip
    assert out in ("TimeoutError", "timeout")
    dropped = subprocess.run(
        ["iptables", "-t", "mangle", "-L", "FORWARD", "-v", "-n", "-x"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rule = next(line for line in dropped.splitlines() if "DROP" in line and POD_CIDR in line)
    assert int(rule.split()[0]) > 0, rule  # packets counted by the drop rule


def test_crash_loop_backs_off_and_a_killed_process_restarts(
    real_cluster: LocalCluster, namespace: str, images: NodeImages
) -> None:
    core = client.CoreV1Api(real_cluster.api_client())
    create_settings(core, namespace)
    crashing = reporter_pod("crashing", images.chat)
    crashing["spec"]["containers"][0]["command"] = [
        "python",
        "-c",
        "import sys; print('failing'); sys.exit(3)",
    ]
    core.create_namespaced_pod(namespace, crashing)

    def backing_off() -> bool:
        status = core.read_namespaced_pod("crashing", namespace).status.container_statuses or []
        waiting = status[0].state.waiting if status else None
        return bool(
            status and status[0].restart_count >= 1 and waiting and waiting.reason == "CrashLoopBackOff"
        )

    eventually(backing_off, 90, "CrashLoopBackOff")
    table = kubectl(real_cluster, "get", "pods", "-n", namespace, "crashing")
    assert "CrashLoopBackOff" in table
    last = core.read_namespaced_pod("crashing", namespace).status.container_statuses[0].last_state.terminated
    assert last.exit_code == 3

    start_pod(core, namespace, reporter_pod("victim", images.chat))
    kubectl(real_cluster, "exec", "-n", namespace, "victim", "--", "python", "-c", "open('/tmp/ready','w')")
    eventually(lambda: pod_ready(core, namespace, "victim"), 30, "Ready")
    container_id = core.read_namespaced_pod("victim", namespace).status.container_statuses[0].container_id
    os.kill(real_cluster.container_pid(container_id), signal.SIGKILL)

    def restarted() -> bool:
        status = core.read_namespaced_pod("victim", namespace).status.container_statuses[0]
        return status.restart_count == 1 and status.state.running is not None

    eventually(restarted, 60, "the killed container restarted")
    # emptyDir outlives the container: /tmp/ready is still there, so Ready comes back on its own.
    eventually(lambda: pod_ready(core, namespace, "victim"), 30, "Ready again")


def test_delete_runs_prestop_then_sigterm_then_kills_after_the_grace_period(
    real_cluster: LocalCluster, namespace: str, images: NodeImages
) -> None:
    events = Events()
    core = client.CoreV1Api(real_cluster.api_client())
    create_settings(core, namespace)
    pod = reporter_pod("graceful", images.chat, notify_url=events.url)
    pod["spec"]["containers"][0]["lifecycle"] = {
        "preStop": {
            "exec": {
                "command": [
                    "python", "-c",
                    "import time, urllib.request;"
                    f"urllib.request.urlopen('{events.url}/prestop', data=b''); time.sleep(1)",
                ]
            }
        }
    }  # fmt: skip
    start_pod(core, namespace, pod)
    time.sleep(1)
    started = time.monotonic()
    core.delete_namespaced_pod("graceful", namespace)

    def gone() -> bool:
        return not core.list_namespaced_pod(namespace, field_selector="metadata.name=graceful").items

    eventually(gone, 60, "the pod gone")
    took = time.monotonic() - started
    prestop, sigterm = events.times("prestop"), events.times("sigterm")
    assert prestop and sigterm, events.seen
    assert prestop[0] < sigterm[0], "SIGTERM must follow the preStop hook"
    # The program ignores SIGTERM, so only the grace period's SIGKILL ends it (3 s grace, 1 s preStop).
    assert took >= 3.0, took
    assert took < 20.0, took


# ----- helpers -----------------------------------------------------------------------------------------


def _get_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def _get_json(url: str) -> dict[str, Any] | None:
    try:
        return json.loads(httpx.get(url, timeout=3).text)
    except (httpx.HTTPError, ValueError):
        return None


def _resolve(name: str, server: str) -> str | None:
    """One DNS A query over UDP, answered by CoreDNS through the kube-dns Service; None when not found."""
    query_id = 0x1234
    header = query_id.to_bytes(2, "big") + b"\x01\x00" + b"\x00\x01" + b"\x00\x00" * 3
    question = b"".join(len(part).to_bytes(1, "big") + part.encode() for part in name.split(".")) + b"\x00"
    packet = header + question + b"\x00\x01\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.sendto(packet, (server, 53))
        answer, _ = sock.recvfrom(512)
    if answer[:2] != packet[:2] or answer[3] & 0x0F != 0 or int.from_bytes(answer[6:8], "big") == 0:
        return None
    # The first answer record after the question: its name (labels or a compression pointer), then type,
    # class (4), TTL (4) and the data length (2).
    offset = len(packet)
    while answer[offset] and answer[offset] & 0xC0 != 0xC0:
        offset += answer[offset] + 1
    offset += 2 if answer[offset] & 0xC0 == 0xC0 else 1
    rdlength = int.from_bytes(answer[offset + 8 : offset + 10], "big")
    return socket.inet_ntoa(answer[offset + 10 : offset + 10 + rdlength]) if rdlength == 4 else None
