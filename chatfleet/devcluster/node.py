"""`RealNode`: one real worker node on this machine, the way AKS runs one: kubelet + containerd + runc.

Beside the control plane of `LocalCluster` it runs, all built from source (tools.NODE_MODULES):
containerd with its CRI plugin and runc, the kubelet, kube-proxy (iptables mode), CoreDNS and kube-router's
network policy controller (NetworkPolicy enforced as on AKS with a policy engine), on a bridge pod network
this module creates (`cfbr0`, 10.244.0.0/24). The images the pods run are imported into containerd's
`k8s.io` namespace before the kubelet starts, so no registry is ever contacted.

Rules of the house for the machine it runs on:
- nothing from a pod leaves through the uplink: a DROP rule (mangle FORWARD, before any ACCEPT kube-proxy
  adds) stops every packet from the pod network that is not routed back onto the bridge; no masquerading;
- one real node per machine (fixed bridge, /run paths): a lock file says who holds it;
- stop (and a start after a crash) leaves the machine as it was: containers killed, mounts undone, bridge,
  routes, iptables rules, cgroups and the sysctls the kubelet changes restored.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chatfleet.devcluster import tools
from chatfleet.devcluster.images import REGISTRY
from chatfleet.devcluster.kubeconfig import build_kubeconfig, write_kubeconfig
from chatfleet.devcluster.node_config import (
    BRIDGE,
    CLUSTER_DNS_IP,
    NODE_IP,
    NODE_NAME,
    POD_CIDR,
    cni_config,
    containerd_config,
    corefile,
    kube_proxy_config,
    kubelet_config,
)
from chatfleet.devcluster.node_host import (
    FIXED_PATHS,
    KUBELET_SYSCTLS,
    NODE_SYSCTLS,
    NodeError,
    check_host,
    create_cgroup_root,
    kill_leftovers,
    read_sysctl,
    remove_cgroup_root,
    remove_kube_rules,
    run,
    setup_network,
    teardown_network,
    unmount_under,
    write_sysctl,
)
from chatfleet.devcluster.pki import CertificateAuthority
from chatfleet.devcluster.probes import free_ports
from chatfleet.devcluster.supervisor import Supervisor

__all__ = ["BRIDGE", "NODE_IP", "NODE_NAME", "POD_CIDR", "NodeError", "RealNode"]

LOCK_FILE = Path("/run/chatfleet-node.lock")
KUBE_ROUTER_USER = "system:kube-router"


def state_root() -> Path:
    """Where containerd keeps imported images between runs, so a warm start imports nothing."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "chatfleet" / "node"


@dataclass
class NodePaths:
    """Where the node's state lives: per-run files under the cluster's workdir, images in a cache."""

    workdir: Path
    cache: Path = field(default_factory=state_root)

    @property
    def pki(self) -> Path:
        return self.workdir / "pki"

    @property
    def ca(self) -> Path:
        return self.pki / "ca.crt"

    @property
    def node(self) -> Path:
        return self.workdir / "node"

    @property
    def containerd_root(self) -> Path:
        return self.cache / "containerd"

    @property
    def containerd_state(self) -> Path:
        return Path("/run/chatfleet-node/containerd")

    @property
    def socket(self) -> str:
        return str(self.containerd_state / "containerd.sock")

    @property
    def kubelet_root(self) -> Path:
        return self.node / "kubelet"


class RealNode:
    """The node's processes, started after the API server is ready and stopped before it."""

    def __init__(
        self,
        workdir: Path,
        server: str,
        ca: CertificateAuthority,
        processes: Supervisor,
        progress: Callable[[str], None],
        service_cidr: str,
        images: list[tuple[str, Path]],
        sandbox_image: str,
    ) -> None:
        self.paths = NodePaths(workdir)
        self.server = server
        self.ca = ca
        self.processes = processes
        self._progress = progress
        self.service_cidr = service_cidr
        self.images = images
        self.sandbox_image = sandbox_image
        self._lock: Any = None
        self._saved_sysctls: dict[str, str] = {}
        self.coredns_ready_port = 0
        self.policy_health_port = 0

    # ----- before the API server --------------------------------------------------------------------

    def prepare_host(self) -> None:
        """Takes the machine-wide lock, clears what a crashed run left, creates the network and cgroups.

        Runs before the API server starts, which listens on the bridge address so pods can reach it.
        """
        check_host()
        LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
        self._lock = LOCK_FILE.open("a+")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.seek(0)
            holder = self._lock.read().strip() or "another process"
            self._lock.close()
            self._lock = None
            raise NodeError(f"a real node already runs on this machine ({holder}); stop it first") from None
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(f"pid {os.getpid()}, workdir {self.paths.workdir}\n")
        self._lock.flush()
        self._saved_sysctls = {
            name: value
            for name in (*KUBELET_SYSCTLS, *NODE_SYSCTLS)
            if (value := read_sysctl(name)) is not None
        }
        self._clean_machine()
        setup_network(self.service_cidr)
        create_cgroup_root()

    # ----- after the API server ---------------------------------------------------------------------

    def start(self, binaries: dict[str, Path]) -> None:
        """containerd (images imported), kubelet, kube-proxy and CoreDNS; does not wait for Ready."""
        paths = self.paths
        paths.node.mkdir(parents=True, exist_ok=True)
        for directory in (paths.containerd_root, paths.containerd_state, paths.kubelet_root):
            directory.mkdir(parents=True, exist_ok=True)
        cni_dir = paths.node / "cni"
        cni_dir.mkdir(exist_ok=True)
        (cni_dir / "10-chatfleet.conflist").write_text(json.dumps(cni_config(), indent=2))
        config = paths.node / "containerd.toml"
        config.write_text(
            containerd_config(
                paths.containerd_root, paths.containerd_state, paths.socket, cni_dir, self.sandbox_image
            )
        )
        env = {**os.environ, "PATH": f"{tools.BIN_DIR}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
        self._progress("starting containerd (runc, CRI, CNI bridge)")
        self.processes.spawn("containerd", [str(binaries["containerd"]), "--config", str(config)], env=env)
        self.processes.wait("containerd's socket", lambda: Path(paths.socket).is_socket(), 30)
        self._import_images(binaries["ctr"])

        kubelet_port, healthz_port, proxy_healthz, proxy_metrics, dns_health, dns_ready = free_ports(6)
        self.coredns_ready_port = dns_ready
        serving = self.ca.issue_server(
            NODE_NAME, dns_names=[NODE_NAME, "localhost"], ips=[NODE_IP, "127.0.0.1"]
        )
        serving.write(paths.pki, "kubelet-serving")
        kubelet_kubeconfig = self._kubeconfig("kubelet", f"system:node:{NODE_NAME}", ("system:nodes",))
        kubelet_config_file = paths.node / "kubelet.yaml"
        kubelet_config_file.write_text(
            yaml.safe_dump(
                kubelet_config(paths.ca, paths.pki, kubelet_port, healthz_port, paths.socket), sort_keys=False
            )
        )
        self._progress(f"starting kubelet (node {NODE_NAME}, {NODE_IP})")
        self.processes.spawn(
            "kubelet",
            [
                str(binaries["kubelet"]),
                f"--config={kubelet_config_file}",
                f"--kubeconfig={kubelet_kubeconfig}",
                f"--root-dir={paths.kubelet_root}",
                f"--node-ip={NODE_IP}",
                f"--hostname-override={NODE_NAME}",
                "--v=1",
            ],
            env=env,
        )
        proxy_kubeconfig = self._kubeconfig("kube-proxy", "system:kube-proxy")
        proxy_config = paths.node / "kube-proxy.yaml"
        proxy_config.write_text(
            yaml.safe_dump(kube_proxy_config(proxy_kubeconfig, proxy_healthz, proxy_metrics), sort_keys=False)
        )
        self._progress("starting kube-proxy (iptables) and CoreDNS")
        self.processes.spawn(
            "kube-proxy", [str(binaries["kube-proxy"]), f"--config={proxy_config}", "--v=1"], env=env
        )
        # CoreDNS reads Services, EndpointSlices and namespaces cluster-wide; it runs on the host, like the
        # control plane, with the admin identity (no pod of it to schedule before DNS exists).
        dns_kubeconfig = self._kubeconfig("coredns", "chatfleet-admin", ("system:masters",))
        dns_file = paths.node / "Corefile"
        dns_file.write_text(corefile(dns_kubeconfig, dns_health, dns_ready))
        self.processes.spawn("coredns", [str(binaries["coredns"]), "-conf", str(dns_file)], env=env)

    def network_policy_objects(self) -> list[dict[str, Any]]:
        """Read access for kube-router's identity to what its informers watch: its upstream ClusterRole
        without the router's node, lease and event writes (only the policy controller runs)."""
        read = ["get", "list", "watch"]
        return [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": "chatfleet:kube-router"},
                "rules": [
                    {
                        "apiGroups": [""],
                        "resources": ["namespaces", "pods", "services", "nodes", "endpoints"],
                        "verbs": read,
                    },
                    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": read},
                    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
                ],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "chatfleet:kube-router"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "chatfleet:kube-router",
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": KUBE_ROUTER_USER}
                ],
            },
        ]

    def start_network_policy(self, binary: Path) -> None:
        """kube-router's network policy controller alone (no routing, no service proxy); started once the
        Node exists, which it reads for the node's address. Its /healthz answers once its controllers run."""
        (self.policy_health_port,) = free_ports(1)
        kubeconfig = self._kubeconfig("kube-router", KUBE_ROUTER_USER)
        self._progress("starting kube-router (NetworkPolicy enforcement)")
        self.processes.spawn(
            "kube-router",
            [
                str(binary),
                f"--kubeconfig={kubeconfig}",
                "--run-firewall=true",
                "--run-router=false",
                "--run-service-proxy=false",
                "--enable-cni=false",
                f"--hostname-override={NODE_NAME}",
                f"--service-cluster-ip-range={self.service_cidr}",
                f"--health-port={self.policy_health_port}",
                "--v=1",
            ],
        )

    def dns_service_objects(self) -> list[dict[str, Any]]:
        """kube-dns in kube-system: a selectorless Service at the clusterDNS address whose one endpoint is
        CoreDNS on the node address, so pods resolve names through kube-proxy as on any cluster."""
        ports = [
            {"name": "dns", "port": 53, "protocol": "UDP"},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
        ]
        return [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": "kube-dns",
                    "namespace": "kube-system",
                    "labels": {"k8s-app": "kube-dns"},
                },
                "spec": {"clusterIP": CLUSTER_DNS_IP, "ports": [{**p, "targetPort": 53} for p in ports]},
            },
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": "kube-dns-node",
                    "namespace": "kube-system",
                    "labels": {
                        "kubernetes.io/service-name": "kube-dns",
                        "endpointslice.kubernetes.io/managed-by": "chatfleet.dev-devcluster",
                    },
                },
                "addressType": "IPv4",
                "endpoints": [{"addresses": [NODE_IP], "conditions": {"ready": True}}],
                "ports": ports,
            },
        ]

    # ----- stop -------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Kubelet first (so it restarts nothing), then every container, then containerd; then the host."""
        self.processes.stop(["kube-router", "kubelet", "kube-proxy", "coredns"])
        kill_leftovers()
        self.processes.stop(["containerd"])
        self._clean_machine()
        for name, value in self._saved_sysctls.items():
            write_sysctl(name, value)
        if self._lock is not None:
            self._lock.seek(0)
            self._lock.truncate()
            self._lock.close()
            self._lock = None

    def _clean_machine(self) -> None:
        kill_leftovers()
        unmount_under(
            self.paths.containerd_state,
            Path("/run/containerd"),
            Path("/run/netns"),
            Path("/var/lib/kubelet"),
            self.paths.workdir,
        )
        for netns in Path("/run/netns").glob("cni-*"):
            run("ip", "netns", "delete", netns.name, check=False)
        remove_kube_rules()
        teardown_network(self.service_cidr)
        remove_cgroup_root()
        for path in (*FIXED_PATHS, self.paths.containerd_state):
            shutil.rmtree(path, ignore_errors=True)

    # ----- helpers ----------------------------------------------------------------------------------

    def _kubeconfig(self, name: str, user: str, groups: tuple[str, ...] = ()) -> Path:
        config = build_kubeconfig(self.server, self.ca.cert_pem, user, self.ca.issue_client(user, groups))
        return write_kubeconfig(self.paths.node / f"{name}.kubeconfig", config)

    def _ctr(self, ctr: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        command = [str(ctr), "--address", self.paths.socket, "-n", "k8s.io", *args]
        return subprocess.run(command, capture_output=True, text=True, check=False, timeout=timeout)

    def _import_images(self, ctr: Path) -> None:
        """Imports each image containerd does not hold yet (warm start: none) and removes the local images of
        earlier trees, so the persistent image store does not grow with every change."""
        listed = self._ctr(ctr, "images", "ls", "-q")
        held = set(listed.stdout.split()) if listed.returncode == 0 else set()
        wanted = {ref for ref, _ in self.images}
        for ref, archive in self.images:
            if ref in held:
                continue
            self._progress(f"importing {ref} into containerd (k8s.io)")
            result = self._ctr(ctr, "images", "import", str(archive))
            if result.returncode != 0:
                raise NodeError(f"importing {archive} into containerd failed: {result.stderr.strip()}")
        stale = sorted(ref for ref in held - wanted if ref.startswith(f"{REGISTRY}/"))
        if stale:
            self._ctr(ctr, "images", "rm", *stale)

    def tag_image(self, source: str, target: str) -> None:
        """Gives an imported image a second name, as a registry push of the same build under a new tag
        would (`chatfleet up` ships its release so); local names are dropped at the next start."""
        if not target.startswith(f"{REGISTRY}/"):
            raise NodeError(f"{target}: local image names start with {REGISTRY}/")
        result = self._ctr(tools.BIN_DIR / "ctr", "images", "tag", "--force", source, target, timeout=60)
        if result.returncode != 0:
            raise NodeError(f"tagging {source} as {target} failed: {result.stderr.strip()}")

    def container_pid(self, container_id: str) -> int:
        """The PID of a running container's task, as containerd reports it."""
        result = self._ctr(tools.BIN_DIR / "ctr", "tasks", "ls", timeout=30)
        for line in result.stdout.splitlines()[1:]:
            task, pid, *_ = line.split()
            if task == container_id:
                return int(pid)
        raise NodeError(f"no running task for container {container_id}")
