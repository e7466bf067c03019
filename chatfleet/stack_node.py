"""`chatfleet up` on the real node: everything runs in the cluster, as it would on AKS.

The images are built from images/ by BuildKit (cached by content), then the control plane starts with a
real kubelet + containerd node (chatfleet/devcluster/node.py). In it:
- the operator, installed with the project's own Helm chart (its image, RBAC, peering, NetworkPolicy), with
  the gate as Kubernetes Jobs running the load-test image;
- the Azure OpenAI simulator as a Deployment + Service (the chat image's `chatfleet simulator`);
- the sample ChatApplication from the chat image; its release is load-tested (and evaluated) by the Job the
  operator renders against the candidate's canary Service before it is promoted;
- the UI and API through the app's ClusterIP Service, which the host reaches through kube-proxy's rules.

No chat service runs outside the cluster. There is no Entra tenant on a laptop, so the operator is installed
with `CHATFLEET_OPERATOR_DEV_MODE` (controller/dev_mode.py): the chat pods take the tenant from the
X-Chatfleet-Tenant header (the gate's users send it) and call the simulator with a placeholder key.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from chatfleet.contracts.resource import CRD_NAME, GROUP, PLURAL, VERSION
from chatfleet.controller import naming as n
from chatfleet.controller.render import CONTAINER_SECURITY
from chatfleet.paths import REPO_ROOT
from chatfleet.stack import RELEASE_TAG, SAMPLE, LocalStack, StackError

if TYPE_CHECKING:
    from chatfleet.devcluster.images import LocalImages


def _refs(images: LocalImages) -> dict[str, str]:
    """The refs of the three app images (build_images builds all three unless told otherwise)."""
    refs = {image.name: image.ref for image in (images.chat, images.operator, images.loadtest) if image}
    missing = {"chat", "operator", "loadtest"} - set(refs)
    if missing:
        raise StackError(f"images not built: {', '.join(sorted(missing))}")
    return refs


SYSTEM_NAMESPACE = "chatfleet-system"
HELM_RELEASE = "chatfleet"
OPERATOR_DEPLOYMENT = (
    "chatfleet-operator"  # the chart's "<fullname>-operator"; the release name is its fullname
)
SIMULATOR = "chatfleet-simulator"
SIMULATOR_PORT = 8080
CHART = REPO_ROOT / "helm" / "chatfleet"
MAX_SOCKET_PATH = 107


def _split(ref: str) -> tuple[str, str]:
    repository, _, tag = ref.rpartition(":")
    return repository, tag


def operator_values(operator_image: str, loadtest_image: str) -> dict[str, Any]:
    """Helm values of the local install: the images built here, one replica (2 cores), dev mode, fast polls.

    Monitoring (Prometheus + prometheus-adapter on the node) plugs in here: `operator.prometheusUrl` for
    the bake, `metrics.serviceMonitor` / `metrics.prometheusAdapter` for the HPA's metrics."""
    operator_repo, operator_tag = _split(operator_image)
    loadtest_repo, loadtest_tag = _split(loadtest_image)
    return {
        "operator": {
            "replicaCount": 1,
            "image": {"repository": operator_repo, "tag": operator_tag, "pullPolicy": "Never"},
            "loadtestImage": {"repository": loadtest_repo, "tag": loadtest_tag},
            "extraEnv": [
                {"name": "CHATFLEET_OPERATOR_DEV_MODE", "value": "true"},
                {"name": "CHATFLEET_OPERATOR_GATE_POLL_SECONDS", "value": "1"},
            ],
        },
    }


def simulator_manifests(image: str) -> list[dict[str, Any]]:
    """The simulator from the chat image, hardened like every pod here (restricted Pod Security)."""
    labels = {"app.kubernetes.io/name": SIMULATOR, "app.kubernetes.io/part-of": "chatfleet"}
    probe = {"httpGet": {"path": "/_sim/state", "port": "http"}, "periodSeconds": 2}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": SIMULATOR, "namespace": SYSTEM_NAMESPACE, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "enableServiceLinks": False,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": 10001,
                            "runAsGroup": 10001,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [
                            {
                                "name": "simulator",
                                "image": image,
                                "imagePullPolicy": "Never",
                                "command": ["chatfleet"],
                                "args": ["simulator", "--host", "0.0.0.0", "--port", str(SIMULATOR_PORT)],
                                "ports": [{"name": "http", "containerPort": SIMULATOR_PORT}],
                                "readinessProbe": probe,
                                "startupProbe": {**probe, "failureThreshold": 60},
                                "resources": {
                                    "requests": {"cpu": "50m", "memory": "128Mi"},
                                    "limits": {"memory": "512Mi"},
                                },
                                "securityContext": CONTAINER_SECURITY,
                                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - emptyDir
                            }
                        ],
                        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": SIMULATOR, "namespace": SYSTEM_NAMESPACE, "labels": labels},
            "spec": {
                "selector": labels,
                "ports": [{"name": "http", "port": SIMULATOR_PORT, "targetPort": "http"}],
            },
        },
    ]


class NodeStack(LocalStack):
    """The local stack on the real node; stop() stops the cluster, which leaves the machine clean."""

    def __init__(self, workdir: Path, progress: Callable[[str], None], monitoring: bool = False) -> None:
        super().__init__(workdir, 0, progress)
        self.monitoring = monitoring
        self.image_refs: dict[str, str] = {}  # chat, operator, loadtest -> the ref imported into containerd
        self.simulator_in_cluster = (
            f"http://{SIMULATOR}.{SYSTEM_NAMESPACE}.svc.cluster.local:{SIMULATOR_PORT}"
        )

    def start(self) -> None:
        from chatfleet.devcluster.cluster import LocalCluster
        from chatfleet.devcluster.images import build_images

        # The kubelet's deepest unix socket lives there; sun_path holds 108 bytes.
        socket_dir = self.workdir / "cluster" / "node" / "kubelet" / "pod-resources" / "0123456789"
        if len(str(socket_dir)) > MAX_SOCKET_PATH:
            raise StackError(
                f"--workdir {self.workdir} is too long for the kubelet's sockets; choose a shorter one"
            )
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        self.progress(
            "building the images (chat, operator, loadtest) with BuildKit; unchanged inputs: cached"
        )
        images = build_images(progress=self.progress)
        self.image_refs = _refs(images)
        self.progress(
            "starting the control plane and a real node "
            "(kubelet, containerd, runc, kube-proxy, CoreDNS, kube-router)"
        )
        self.cluster = LocalCluster(
            nodes=0,
            real_node=True,
            images=images,
            workdir=self.workdir / "cluster",
            kubeconfig=self.workdir / "kubeconfig",
            progress=self.progress,
        )
        self.cluster.start()
        self.progress(f"cluster ready in {self.cluster.startup_seconds:.1f} s at {self.cluster.server}")
        if self.monitoring:
            self._start_monitoring()
        self._install_operator()
        self._start_simulator()
        # The app goes in at once: its pods start (init containers ingest the corpus) while the operator's
        # and the simulator's pods start, which cuts the warm set-up by their start time.
        self._wait_crd_established()
        self._apply_sample()
        self._wait_available(SYSTEM_NAMESPACE, OPERATOR_DEPLOYMENT, "the operator")
        self._wait_available(SYSTEM_NAMESPACE, SIMULATOR, "the simulator")

    def _install_operator(self) -> None:
        from chatfleet.devcluster import tools

        helm = tools.ensure_built(["helm"], progress=self.progress)["helm"]
        values = self.workdir / "operator-values.yaml"
        values.write_text(
            yaml.safe_dump(operator_values(self.image_refs["operator"], self.image_refs["loadtest"]))
        )
        self.progress(
            f"installing the operator with the Helm chart (helm/chatfleet, namespace {SYSTEM_NAMESPACE}): "
            "CRD, RBAC, peering, NetworkPolicy, Deployment"
        )
        helm_home = self.workdir / "helm"
        env = {
            **os.environ,
            "KUBECONFIG": str(self.cluster.kubeconfig),
            "HELM_CACHE_HOME": str(helm_home / "cache"),
            "HELM_CONFIG_HOME": str(helm_home / "config"),
            "HELM_DATA_HOME": str(helm_home / "data"),
        }
        log = self.workdir / "logs" / "helm.log"
        command = [
            str(helm), "install", HELM_RELEASE, str(CHART), "--namespace", SYSTEM_NAMESPACE,
            "--create-namespace", "--values", str(values),
        ]  # fmt: skip
        with log.open("w") as out:
            result = subprocess.run(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, check=False, timeout=300
            )
        if result.returncode != 0:
            raise StackError(f"helm install failed (exit {result.returncode}): {log.read_text()[-1500:]}")

    def _start_monitoring(self) -> None:
        """Prometheus scrapes the chat pods as the chart's ServiceMonitor says and prometheus-adapter serves
        the chart's adapter rules as custom.metrics.k8s.io, so the app's HPA acts on TTFT and streams.
        (It listens on loopback: the operator's pod cannot reach it, so the bake stays off here.)"""
        from chatfleet.devcluster.monitoring import Monitoring

        self.progress(
            "starting Prometheus and prometheus-adapter (custom.metrics.k8s.io for the HPA; built from "
            "source on first use, which takes minutes)"
        )
        self.prometheus_url = Monitoring(self.cluster).start().url

    def _start_simulator(self) -> None:
        from kubernetes import utils

        self.progress(
            f"starting the Azure OpenAI simulator as Deployment + Service {SYSTEM_NAMESPACE}/{SIMULATOR}"
        )
        with self.cluster.api_client() as api:
            for manifest in simulator_manifests(self.image_refs["chat"]):
                utils.create_from_dict(api, manifest)

    def _wait_crd_established(self) -> None:
        from kubernetes import client

        def established() -> bool:
            with self.cluster.api_client() as api:
                crd = client.ApiextensionsV1Api(api).read_custom_resource_definition(CRD_NAME)
            conditions = (crd.status and crd.status.conditions) or []
            return any(c.type == "Established" and c.status == "True" for c in conditions)

        self._wait("the ChatApplication CRD (installed by the chart) to be established", established, 60)

    def _wait_available(self, namespace: str, name: str, what: str) -> None:
        from kubernetes import client

        self.progress(f"waiting for {what} ({namespace}/{name}) to be available")

        def available() -> bool:
            with self.cluster.api_client() as api:
                found = client.AppsV1Api(api).read_namespaced_deployment_status(name, namespace)
            return bool(found.status and (found.status.available_replicas or 0) >= 1)

        self._wait(
            f"{what} to be available (kubectl -n {namespace} describe deployment {name})", available, 300
        )

    def _apply_sample(self) -> None:
        from kubernetes import client

        body = yaml.safe_load(SAMPLE.read_text())
        self.app_name = body["metadata"]["name"]
        self.namespace = body["metadata"].get("namespace", self.namespace)
        body["spec"]["image"] = self.image_refs["chat"]
        for deployment in body["spec"]["openai"]["deployments"]:
            deployment["endpoint"] = self.simulator_in_cluster
        self.progress(
            f"applying the sample ChatApplication {self.namespace}/{self.app_name} ({SAMPLE.name}) "
            f"with image {self.image_refs['chat']}"
        )
        with self.cluster.api_client() as api:
            client.CustomObjectsApi(api).create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, body
            )

    def release_image(self, image: str) -> str:
        """The same build under the next tag in containerd, as a CI pipeline would push it."""
        release = image.rsplit(":", 1)[0] + ":" + RELEASE_TAG
        assert self.cluster is not None and self.cluster.node is not None
        self.cluster.node.tag_image(image, release)
        return release

    def wait_ready(self, timeout: float) -> dict[str, Any]:
        app = super().wait_ready(timeout)
        self.chat_url = self._service_url(self.namespace, n.stable_name(self.app_name), n.CHAT_PORT)
        self.simulator_url = self._service_url(SYSTEM_NAMESPACE, SIMULATOR, SIMULATOR_PORT)
        return app

    def _service_url(self, namespace: str, name: str, port: int) -> str:
        """http://<ClusterIP>:<port>: kube-proxy's rules on this machine route it to the pods."""
        from kubernetes import client

        with self.cluster.api_client() as api:
            spec = client.CoreV1Api(api).read_namespaced_service(name, namespace).spec
        if spec is None or not spec.cluster_ip:
            raise StackError(f"Service {namespace}/{name} has no cluster IP")
        return f"http://{spec.cluster_ip}:{port}"
