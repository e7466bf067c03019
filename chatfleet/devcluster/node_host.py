"""What the real node changes on this machine, and how each change is undone.

Every function here is idempotent and safe to call when its change is absent, so a start after a crash
and a normal stop share the same clean-up.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

from chatfleet.devcluster import tools
from chatfleet.devcluster.node_config import BRIDGE, CGROUP_ROOT, ISOLATION_COMMENT, NODE_IP, POD_CIDR

# Paths containerd's CRI and the kubelet use whatever their root/state say; cleared on stop.
FIXED_PATHS = (
    Path("/run/containerd/runc/k8s.io"),
    Path("/run/containerd/s"),
    Path("/run/containerd/fifo"),
    Path("/var/lib/cni/networks/chatfleet"),
    Path("/var/lib/kubelet/device-plugins"),
)
# kube-router's network policy controller names its sets KUBE-SRC-<hash> and KUBE-DST-<hash>.
KUBE_ROUTER_IPSETS = ("KUBE-SRC-", "KUBE-DST-")
# The kubelet sets these at start (protectKernelDefaults would instead refuse to start); put back on stop.
KUBELET_SYSCTLS = ("vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops")
NODE_SYSCTLS = ("net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables")


class NodeError(RuntimeError):
    """The real node could not start; the message names the step and what to do."""


def run(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise NodeError(f"`{' '.join(command)}` failed (exit {result.returncode}): {result.stderr.strip()}")
    return result


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name


def read_sysctl(name: str) -> str | None:
    with contextlib.suppress(OSError):
        return _sysctl_path(name).read_text().strip()
    return None


def write_sysctl(name: str, value: str) -> None:
    with contextlib.suppress(OSError):
        _sysctl_path(name).write_text(value)


def check_host() -> None:
    """Fails early, with the package or fact to fix, when this machine cannot run the node."""
    if os.geteuid() != 0:
        raise NodeError("the real node needs root (containers, a bridge, iptables, cgroups); run as root")
    missing = [
        tool
        for tool in ("ip", "iptables", "iptables-restore", "ipset", "mount", "umount")
        if not shutil.which(tool)
    ]
    if missing:
        raise NodeError(
            f"missing {', '.join(missing)}: install Debian's iproute2, iptables, ipset and mount packages"
        )
    if not Path("/sys/fs/cgroup/cpu").is_dir():
        raise NodeError(
            "cgroup v1 controllers are not mounted under /sys/fs/cgroup (the node uses cgroupfs v1)"
        )
    pod_net = ipaddress.ip_network(POD_CIDR)
    routes = json.loads(run("ip", "-j", "route", "show", "table", "all").stdout or "[]")
    for route in routes:
        destination = route.get("dst", "")
        if route.get("dev") == BRIDGE or destination in ("default", "") or ":" in destination:
            continue
        with contextlib.suppress(ValueError):
            if ipaddress.ip_network(destination, strict=False).overlaps(pod_net):
                raise NodeError(
                    f"the pod network {POD_CIDR} overlaps this machine's route {destination} "
                    f"(dev {route.get('dev')}); the node needs it free"
                )


# ----- host network -------------------------------------------------------------------------------------


def _isolation_rule(action: str) -> list[str]:
    return [
        "iptables", "-t", "mangle", action, "FORWARD", "-s", POD_CIDR, "!", "-o", BRIDGE,
        "-m", "comment", "--comment", ISOLATION_COMMENT, "-j", "DROP",
    ]  # fmt: skip


def setup_network(service_cidr: str) -> None:
    """The bridge the CNI plugin attaches pods to, the route to Service IPs, and the egress drop rule."""
    if run("ip", "link", "show", BRIDGE, check=False).returncode != 0:
        run("ip", "link", "add", BRIDGE, "type", "bridge")
    run("ip", "addr", "replace", f"{NODE_IP}/{ipaddress.ip_network(POD_CIDR).prefixlen}", "dev", BRIDGE)
    run("ip", "link", "set", BRIDGE, "up")
    # A Service IP that kube-proxy does not rewrite must not leave through the default route.
    run("ip", "route", "replace", service_cidr, "dev", BRIDGE, "src", NODE_IP)
    if run(*_isolation_rule("-C"), check=False).returncode != 0:
        run(*_isolation_rule("-I"))
    write_sysctl("net/bridge/bridge-nf-call-iptables", "1")
    write_sysctl("net/ipv4/ip_forward", "1")


def teardown_network(service_cidr: str) -> None:
    """Removes what setup_network and kube-proxy added; safe to call when nothing is there."""
    run("ip", "route", "del", service_cidr, "dev", BRIDGE, check=False)
    while run(*_isolation_rule("-D"), check=False).returncode == 0:
        pass
    run("ip", "link", "del", BRIDGE, check=False)


# ----- cgroups ------------------------------------------------------------------------------------------


def _cgroup_hierarchies() -> list[Path]:
    root = Path("/sys/fs/cgroup")
    return [
        path
        for path in sorted(root.iterdir())
        if path.is_dir() and not path.is_symlink() and path.name != "unified"
    ]


def create_cgroup_root() -> None:
    """/sys/fs/cgroup/<each controller>/chatfleet: the kubelet's cgroupRoot must exist in every hierarchy."""
    for hierarchy in _cgroup_hierarchies():
        directory = hierarchy / CGROUP_ROOT
        directory.mkdir(exist_ok=True)
        if hierarchy.name == "cpuset":
            for knob in ("cpuset.cpus", "cpuset.mems"):
                value = (hierarchy / knob).read_text()
                if not (directory / knob).read_text().strip():
                    (directory / knob).write_text(value)


def remove_cgroup_root() -> None:
    """Removes the cgroup tree bottom-up (rmdir of an empty cgroup; tasks must be gone first)."""
    for hierarchy in _cgroup_hierarchies():
        top = hierarchy / CGROUP_ROOT
        if not top.is_dir():
            continue
        for directory in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                directory.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


# ----- processes and mounts left behind ----------------------------------------------------------------


def _processes_running(binary: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.readlink(proc / "exe") == str(binary):
                pids.append(int(proc.name))
    return pids


def _cgroup_pids() -> list[int]:
    """Every process in the node's cgroup tree: the pods' containers, whoever started them."""
    pids: set[int] = set()
    top = Path("/sys/fs/cgroup/pids") / CGROUP_ROOT
    if top.is_dir():
        for procs in top.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                pids.update(int(line) for line in procs.read_text().split())
    return sorted(pids)


def kill_leftovers() -> None:
    """SIGKILLs container processes and shims of this node (also those of a run that crashed)."""
    for pid in [*_cgroup_pids(), *_processes_running(tools.BIN_DIR / "containerd-shim-runc-v2")]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while (_cgroup_pids() or _processes_running(tools.BIN_DIR / "containerd-shim-runc-v2")) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.1)


def unmount_under(*prefixes: Path) -> None:
    """Lazily unmounts every mount point below the prefixes, deepest first (overlay rootfs, tmpfs volumes,
    network namespaces, the kubelet's bind mounts)."""
    wanted = [str(prefix.resolve()) if prefix.exists() else str(prefix) for prefix in prefixes]
    points = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point = line.split()[1].replace("\\040", " ")
        if any(point == prefix or point.startswith(prefix.rstrip("/") + "/") for prefix in wanted):
            points.append(point)
    for point in sorted(set(points), key=len, reverse=True):
        run("umount", "-l", point, check=False)


def remove_kube_rules() -> None:
    """kube-proxy's and kube-router's chains (kube-proxy cleans its own with --cleanup; the rest by name:
    every KUBE-* chain and the jumps to it), then kube-router's ipsets, which the chains referenced."""
    proxy = tools.BIN_DIR / "kube-proxy"
    if proxy.is_file():
        subprocess.run([str(proxy), "--cleanup"], capture_output=True, check=False, timeout=60)
    for table in ("filter", "nat", "mangle"):
        listing = run("iptables-save", "-t", table, check=False).stdout
        for line in listing.splitlines():
            words = shlex.split(line)
            if words[:1] == ["-A"] and "KUBE-" in line and not words[1].startswith("KUBE-"):
                run("iptables", "-t", table, "-D", *words[1:], check=False)
        for line in listing.splitlines():
            if line.startswith(":KUBE-"):
                chain = line[1:].split()[0]
                run("iptables", "-t", table, "-F", chain, check=False)
        for line in listing.splitlines():
            if line.startswith(":KUBE-"):
                run("iptables", "-t", table, "-X", line[1:].split()[0], check=False)
    if shutil.which("ipset"):
        for name in run("ipset", "list", "-n", check=False).stdout.split():
            if name.startswith(KUBE_ROUTER_IPSETS):
                run("ipset", "destroy", name, check=False)
