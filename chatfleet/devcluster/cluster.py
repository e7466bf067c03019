"""`LocalCluster`: etcd + kube-apiserver + kube-controller-manager (+ kube-scheduler + KWOK) on loopback.

The same control plane serves the integration tests and `chatfleet dev cluster`. Every component is a
real upstream binary built from source (see tools.py); no kubelet runs: KWOK plays the kubelet of fake
nodes, so pods scheduled by kube-scheduler become Running/Ready and Deployments really become available.

Its processes run under a `Supervisor` (supervisor.py): each in its own process group, killed by the
kernel if this Python process dies, so neither Ctrl-C, an exception nor a killed test run leaves a
process behind. The kernel ties that signal to the *thread* that started the process: start a
LocalCluster from a thread that outlives it (the main thread, as pytest fixtures and the CLI do), not
from a short-lived worker. Fake nodes are in kwok.py, ports and readiness probes in probes.py.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from chatfleet.devcluster import tools
from chatfleet.devcluster.kubeconfig import build_kubeconfig, is_local_kubeconfig, write_kubeconfig
from chatfleet.devcluster.kwok import fake_node, kwok_command
from chatfleet.devcluster.node import BRIDGE, NODE_IP, NODE_NAME, POD_CIDR, RealNode
from chatfleet.devcluster.pki import CertificateAuthority, service_account_key
from chatfleet.devcluster.probes import AdminHTTP, free_ports, http_ok, port_open
from chatfleet.devcluster.supervisor import Supervisor

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from chatfleet.devcluster.images import LocalImages

ADMIN_USER = "chatfleet-admin"
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
# Controllers a platform team's workloads need without a kubelet: ownership/GC, Deployments, Jobs,
# namespaces, service accounts (pods need their SA), aggregated RBAC roles (admin/edit/view), PDB status,
# Service endpoints, pod clean-up.
CONTROLLERS = (
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "clusterrole-aggregation-controller",
    "namespace-controller",
    "garbage-collector-controller",
    "deployment-controller",
    "replicaset-controller",
    "statefulset-controller",
    "daemonset-controller",
    "job-controller",
    "cronjob-controller",
    "ttl-after-finished-controller",
    "disruption-controller",
    "endpointslice-controller",
    "pod-garbage-collector-controller",
    # Holds replicas at minReplicas without a metrics API; with one (monitoring.py: Prometheus and
    # prometheus-adapter on the real node) it scales on the chat pods' custom metrics, as on AKS.
    "horizontal-pod-autoscaler-controller",
)
# Upstream's 15 s: a local run (and a five-minute test) sees each scaling step sooner at 5 s.
HPA_SYNC_PERIOD = "5s"
# The aggregation layer's client identity towards extension API servers (custom.metrics.k8s.io): they trust
# the user headers of requests from this name and CA (kube-system/extension-apiserver-authentication).
FRONT_PROXY_CLIENT = "front-proxy-client"
STOP_GRACE_SECONDS = 10.0
WORKDIR_MARKER = ".chatfleet-cluster"


class ClusterError(RuntimeError):
    """The local cluster could not start or a component died; the message names it and quotes its log."""


class LocalCluster:
    """A real Kubernetes control plane on 127.0.0.1 free ports, started and stopped as a context manager.

    `nodes` > 0 also runs kube-scheduler and KWOK with that many fake nodes (annotation
    `kwok.x-k8s.io/node: fake`), so pods become Running/Ready; `nodes=0` runs only etcd, the API server and
    the controller manager. State lives in `workdir` (a temporary folder, removed on stop, when None).
    """

    def __init__(
        self,
        nodes: int = 1,
        workdir: Path | None = None,
        kubeconfig: Path | None = None,
        progress: Callable[[str], None] | None = None,
        startup_timeout: float = 90.0,
        real_node: bool = False,
        images: LocalImages | None = None,
    ) -> None:
        if nodes < 0:
            raise ValueError(f"nodes must be >= 0, got {nodes}")
        if real_node and nodes:
            raise ValueError("a real node replaces the fake ones: pass nodes=0 with real_node=True")
        if real_node and images is None:
            raise ValueError("a real node needs its images (chatfleet.devcluster.images.build_images())")
        self.nodes = nodes
        self.real_node = real_node
        self.images = images
        self.node: RealNode | None = None
        self._own_workdir = workdir is None
        self._workdir_arg = workdir
        self._kubeconfig_arg = kubeconfig
        self._progress = progress or (lambda _message: None)
        self.startup_timeout = startup_timeout
        self.processes = Supervisor(Path(), Path(), STOP_GRACE_SECONDS, ClusterError)
        self.workdir = Path()
        self.kubeconfig = Path()
        self.server = ""
        self.startup_seconds = 0.0
        self._ca_file = Path()
        self._ca: CertificateAuthority | None = None
        self._api = AdminHTTP("", Path(), ("", ""))
        self._started = False

    # ----- lifecycle -----------------------------------------------------------------------------------

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalCluster:
        """Builds missing binaries, starts every component and returns once the cluster is usable.

        Usable means: API server /readyz is ok, the controller manager has created the `default`
        ServiceAccount (its controllers run), and every fake node is Ready. Any failure stops what was
        started and raises ClusterError naming the component.
        """
        if self._started:
            raise ClusterError("this LocalCluster is already started")
        self._started = True
        if self.real_node:
            names: tuple[str, ...] = (*tools.CONTROL_PLANE[:4], *tools.NODE)
        else:
            names = tools.CONTROL_PLANE if self.nodes else tools.CONTROL_PLANE[:3]
        binaries = tools.ensure_built(names, progress=self._progress)
        began = time.monotonic()
        try:
            self._prepare_workdir()
            self._start_components(binaries)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stops clients first, then kube-apiserver, then etcd (an API server whose etcd is gone hangs in
        shutdown); each tier gets SIGTERM to its process groups and SIGKILL after a grace period."""
        if self.node is not None:
            node, self.node = self.node, None
            node.stop()
        storage = ("kube-apiserver", "etcd")
        clients = [name for name in self.processes.names() if name not in storage]
        self.processes.stop(clients, *([name] for name in storage))
        if self.kubeconfig != Path() and self.kubeconfig.exists() and is_local_kubeconfig(self.kubeconfig):
            self.kubeconfig.unlink()  # it points at a cluster that no longer exists
        if self._own_workdir and self.workdir != Path() and self.workdir.exists():
            shutil.rmtree(self.workdir, ignore_errors=True)

    # ----- what callers use ------------------------------------------------------------------------------

    def api_client(self) -> ApiClient:
        """A new kubernetes-client ApiClient authenticated as the cluster admin (group system:masters)."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def env(self) -> dict[str, str]:
        """This process's environment with KUBECONFIG pointing at the admin kubeconfig (for subprocesses)."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def pids(self) -> list[int]:
        """Process ids of the running components (tests use them to prove nothing is left behind)."""
        return self.processes.pids()

    @property
    def kubectl(self) -> Path:
        """kubectl of the same Kubernetes version, built with the node tools."""
        return tools.module_of("kubectl").bin_dir / "kubectl"

    def container_pid(self, container_id: str) -> int:
        """Host PID of a container's main process, from its pod status id (`containerd://<id>`)."""
        if self.node is None:
            raise ClusterError("only a real node runs containers")
        return self.node.container_pid(container_id.removeprefix("containerd://"))

    def client_kubeconfig(self, name: str, user: str, groups: tuple[str, ...] = ()) -> Path:
        """A kubeconfig for `user` (client certificate from the cluster CA): host components such as
        Prometheus and prometheus-adapter get their own RBAC identity, not the admin's."""
        if self._ca is None:
            raise ClusterError("the cluster is not started")
        config = build_kubeconfig(self.server, self._ca.cert_pem, user, self._ca.issue_client(user, groups))
        return write_kubeconfig(self.workdir / f"{name}.kubeconfig", config)

    def check_alive(self) -> None:
        """Raises ClusterError if any component has exited."""
        self.processes.check_alive()

    # ----- start-up steps --------------------------------------------------------------------------------

    def _prepare_workdir(self) -> None:
        """A fresh state folder (etcd data of an earlier run would clash with the new CA); an existing
        folder is only ever cleared when it carries our marker, so a mistyped path loses nothing."""
        if self._workdir_arg is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="chatfleet-cluster-"))
        else:
            self.workdir = self._workdir_arg.resolve()
            if self.workdir.exists() and any(self.workdir.iterdir()):
                if not (self.workdir / WORKDIR_MARKER).is_file():
                    raise ClusterError(
                        f"workdir {self.workdir} is not empty and was not made by a LocalCluster; "
                        "choose an empty or new folder"
                    )
                shutil.rmtree(self.workdir)
            self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / WORKDIR_MARKER).write_text("state of a chatfleet LocalCluster; safe to delete\n")
        self.workdir.chmod(0o700)
        (self.workdir / "logs").mkdir()
        self.processes = Supervisor(self.workdir / "logs", self.workdir, STOP_GRACE_SECONDS, ClusterError)
        self.kubeconfig = (self._kubeconfig_arg or self.workdir / "admin.kubeconfig").resolve()
        if self.kubeconfig.exists():
            if not is_local_kubeconfig(self.kubeconfig):
                raise ClusterError(
                    f"{self.kubeconfig} exists and is not a chatfleet dev kubeconfig; it is not overwritten, "
                    "choose another --kubeconfig path"
                )
            self.kubeconfig.unlink()  # a stale file would tell waiting scripts the new cluster is ready

    def _start_components(self, binaries: dict[str, Path]) -> None:
        pki = self.workdir / "pki"
        pki.mkdir()
        etcd_port, etcd_peer_port, api_port = free_ports(3)
        # With a real node the API server listens on the bridge address, where pods reach it too.
        api_host = NODE_IP if self.real_node else "127.0.0.1"
        self.server = f"https://{api_host}:{api_port}"

        ca = self._ca = CertificateAuthority()
        if self.real_node:
            assert self.images is not None
            images = [(image.ref, image.tar) for image in self.images]
            self.node = RealNode(
                self.workdir, self.server, ca, self.processes, self._progress,
                SERVICE_CLUSTER_IP_RANGE, images, self.images.pause.ref,
            )  # fmt: skip
            self._progress(f"preparing the real node's network ({BRIDGE} {POD_CIDR}) and cgroups")
            self.node.prepare_host()
        self._ca_file, _ = ca.key_pair.write(pki, "ca")
        serving_cert, serving_key = ca.issue_server(
            "kube-apiserver",
            dns_names=["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"],
            ips=["127.0.0.1", "10.0.0.1", *([NODE_IP] if self.real_node else [])],
        ).write(pki, "apiserver")
        sa_public, sa_private = service_account_key().write(pki, "service-account")
        admin = ca.issue_client(ADMIN_USER, ("system:masters",))
        admin_cert, admin_key = admin.write(pki, "admin")
        self._api = AdminHTTP(self.server, self._ca_file, (str(admin_cert), str(admin_key)))

        etcd_url = f"http://127.0.0.1:{etcd_port}"
        peer_url = f"http://127.0.0.1:{etcd_peer_port}"
        self._progress(f"starting etcd on {etcd_url}")
        self.processes.spawn(
            "etcd",
            [
                str(binaries["etcd"]),
                "--name=chatfleet",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=chatfleet={peer_url}",
                "--unsafe-no-fsync=true",  # test/dev data: durability is not worth the fsync latency
                "--log-level=warn",
            ],
        )
        self._progress(f"starting kube-apiserver on {self.server}")
        self.processes.spawn(
            "kube-apiserver",
            [
                str(binaries["kube-apiserver"]),
                f"--etcd-servers={etcd_url}",
                f"--bind-address={api_host}",
                f"--advertise-address={api_host}",
                f"--secure-port={api_port}",
                f"--cert-dir={pki}",
                f"--tls-cert-file={serving_cert}",
                f"--tls-private-key-file={serving_key}",
                f"--client-ca-file={self._ca_file}",
                f"--service-account-issuer={self.server}",
                f"--service-account-key-file={sa_public}",
                f"--service-account-signing-key-file={sa_private}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                *self._kubelet_facing_flags(ca, pki),
                *self._aggregator_flags(pki),
                # No node-lifecycle controller runs (KWOK nodes are always Ready), so nothing would ever
                # remove the not-ready taint this plugin puts on new nodes.
                "--disable-admission-plugins=TaintNodesByCondition",
                "--allow-privileged=true",
                "--profiling=false",
                "--v=1",
            ],
        )
        admin_config = build_kubeconfig(self.server, ca.cert_pem, ADMIN_USER, admin)
        kwok_kubeconfig = write_kubeconfig(self.workdir / "kwok.kubeconfig", admin_config)
        # The clients start as soon as the API server listens, overlapping their start-up with its
        # post-start hooks (seconds); one that gives up waiting for the API server is restarted below.
        self._wait("kube-apiserver to listen", lambda: port_open(api_port, api_host))
        early = len(self.processes.components)

        kcm_kubeconfig = self._component_kubeconfig(
            ca, "kube-controller-manager", "system:kube-controller-manager"
        )
        self._progress("starting kube-controller-manager")
        self.processes.spawn(
            "kube-controller-manager",
            [
                str(binaries["kube-controller-manager"]),
                f"--kubeconfig={kcm_kubeconfig}",
                "--secure-port=0",  # no health endpoint needed: readiness is checked via the API
                "--leader-elect=false",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={sa_private}",
                f"--root-ca-file={self._ca_file}",
                f"--controllers={','.join(self._controllers())}",
                f"--horizontal-pod-autoscaler-sync-period={HPA_SYNC_PERIOD}",
                "--v=1",
            ],
        )
        if self.nodes or self.real_node:
            scheduler_kubeconfig = self._component_kubeconfig(ca, "kube-scheduler", "system:kube-scheduler")
            self._progress("starting kube-scheduler")
            self.processes.spawn(
                "kube-scheduler",
                [
                    str(binaries["kube-scheduler"]),
                    f"--kubeconfig={scheduler_kubeconfig}",
                    "--secure-port=0",  # no health endpoint needed: readiness is checked via the API
                    "--leader-elect=false",
                    "--v=1",
                ],
            )
        if self.nodes:
            # KWOK plays the kubelet of every fake node, so it acts with the admin identity.
            self._progress(f"starting kwok with {self.nodes} fake node(s)")
            self.processes.spawn("kwok", kwok_command(binaries["kwok"], kwok_kubeconfig))
        clients = self.processes.components[early:]
        self._wait("kube-apiserver /readyz", self._api.apiserver_ready, tolerate={c.name for c in clients})
        self._progress("kube-apiserver is ready")
        for component in [c for c in clients if c.process.poll() is not None]:
            self._progress(f"restarting {component.name}, which gave up before the API server was ready")
            self.processes.restart(component)
        if self.nodes:
            self._create_fake_nodes()
            self._wait(f"{self.nodes} fake node(s) Ready", self._nodes_ready)
        if self.node is not None:
            self.node.start(binaries)
            for manifest in self.node.dns_service_objects():
                self._create(manifest)
            self._wait(f"node {NODE_NAME} Ready", self._nodes_ready, timeout=max(self.startup_timeout, 180))
            self._wait("CoreDNS ready", lambda: http_ok(f"http://127.0.0.1:{self.node_dns_ready_port}/ready"))
            for manifest in self.node.network_policy_objects():
                self._create(manifest)
            self.node.start_network_policy(binaries["kube-router"])
            health = f"http://127.0.0.1:{self.node.policy_health_port}/healthz"
            self._wait("kube-router's network policy controller", lambda: http_ok(health))
        self._wait("controller manager (default ServiceAccount)", self._api.default_service_account_exists)
        # Written last: whoever waits for this file (a person, a script) finds a cluster ready to use.
        write_kubeconfig(self.kubeconfig, admin_config)

    def _component_kubeconfig(self, ca: CertificateAuthority, name: str, user: str) -> Path:
        config = build_kubeconfig(self.server, ca.cert_pem, user, ca.issue_client(user))
        return write_kubeconfig(self.workdir / f"{name}.kubeconfig", config)

    # ----- readiness -------------------------------------------------------------------------------------

    def _wait(
        self,
        what: str,
        condition: Callable[[], bool],
        tolerate: set[str] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Polls `condition` until true; fails fast with the log of any component that died meanwhile
        (except those in `tolerate`, which the caller restarts)."""
        self.processes.wait(what, condition, timeout or self.startup_timeout, tolerate or ())

    def _create_fake_nodes(self) -> None:
        for index in range(self.nodes):
            failed = self._api.create("/api/v1/nodes", fake_node(index))
            if failed is not None:
                raise ClusterError(f"creating fake node failed: HTTP {failed.status_code} {failed.text}")

    @property
    def node_dns_ready_port(self) -> int:
        return self.node.coredns_ready_port if self.node else 0

    def _controllers(self) -> tuple[str, ...]:
        # A real kubelet that stops must turn its node NotReady, as on AKS; KWOK nodes are always Ready.
        return (*CONTROLLERS, "node-lifecycle-controller") if self.real_node else CONTROLLERS

    def _kubelet_facing_flags(self, ca: CertificateAuthority, pki: Path) -> list[str]:
        """Authorization and the client identity the API server uses towards a real kubelet (logs, exec,
        port-forward); the Node authorizer and NodeRestriction confine each kubelet to its own pods."""
        if not self.real_node:
            return ["--authorization-mode=RBAC"]
        cert, key = ca.issue_client("kube-apiserver-kubelet-client", ("system:masters",)).write(
            pki, "apiserver-kubelet-client"
        )
        return [
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--kubelet-preferred-address-types=InternalIP",
            f"--kubelet-client-certificate={cert}",
            f"--kubelet-client-key={key}",
            f"--kubelet-certificate-authority={self._ca_file}",
        ]

    @staticmethod
    def _aggregator_flags(pki: Path) -> list[str]:
        """The aggregation layer, as kubeadm sets it up: its own CA for the front-proxy client identity, and
        requests routed to an APIService's endpoint addresses (extension servers run on the host here, not
        behind kube-proxy)."""
        front_proxy_ca = CertificateAuthority("chatfleet-front-proxy-ca")
        ca_file, _ = front_proxy_ca.key_pair.write(pki, "front-proxy-ca")
        cert, key = front_proxy_ca.issue_client(FRONT_PROXY_CLIENT).write(pki, "front-proxy-client")
        return [
            f"--requestheader-client-ca-file={ca_file}",
            f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={cert}",
            f"--proxy-client-key-file={key}",
            "--enable-aggregator-routing=true",
        ]

    def _create(self, manifest: dict[str, object]) -> None:
        metadata = manifest["metadata"]
        assert isinstance(metadata, dict)
        group_version = str(manifest["apiVersion"])
        base = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
        plural = {
            "Service": "services",
            "EndpointSlice": "endpointslices",
            "ClusterRole": "clusterroles",
            "ClusterRoleBinding": "clusterrolebindings",
        }[str(manifest["kind"])]
        scope = f"/namespaces/{metadata['namespace']}" if "namespace" in metadata else ""
        failed = self._api.create(f"{base}{scope}/{plural}", manifest)
        if failed is not None:
            raise ClusterError(f"creating {manifest['kind']} {metadata['name']} failed: {failed.text}")

    def _nodes_ready(self) -> bool:
        return self._api.ready_nodes() >= max(self.nodes, 1 if self.real_node else 0)
