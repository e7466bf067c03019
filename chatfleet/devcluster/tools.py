"""Builds the control plane, KWOK and helm from source (Go module proxy) and caches them under tools/bin.

No prebuilt binaries are downloaded: each Go module under tools/ pins its inputs in go.mod/go.sum, and a
stamp next to the binaries records a hash of those inputs, so a rebuild happens only when they change.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from chatfleet.paths import TOOLS_DIR

# CHATFLEET_TOOLS_BIN moves the cache (a CI cache folder, or a fresh folder to measure a cold build).
BIN_DIR = Path(os.environ.get("CHATFLEET_TOOLS_BIN") or TOOLS_DIR / "bin").resolve()
KUBE_VERSION = "v1.35.4"
HELM_VERSION = "v3.22.0"
KWOK_VERSION = "v0.8.0"
RUNC_VERSION = "v1.5.3"
CONTAINERD_VERSION = "v2.4.2"
BUILDKIT_VERSION = "v0.35.1"
# Prometheus 3.x is published on the Go module proxy as v0.3xx.y: module v0.316.0 is release 3.16.0.
PROMETHEUS_VERSION = "3.16.0"
# The newest prometheus-adapter release (k8s.io libraries v0.30: delegated authn/authz and the aggregation
# layer are stable APIs that Kubernetes 1.35 still serves).
PROMETHEUS_ADAPTER_VERSION = "v0.12.0"
ACTIONLINT_VERSION = "v1.7.12"
KUBE_ROUTER_VERSION = "v2.1.0"
KWOK_STAGES = TOOLS_DIR / "kwok" / "stages.yaml"


class ToolBuildError(RuntimeError):
    """A tool could not be built; the message says why and where the full log is."""


@dataclass(frozen=True)
class GoModule:
    """One Go module under tools/ and the binaries a single `go build` of it produces."""

    directory: str
    packages: tuple[str, ...]
    binaries: tuple[str, ...]
    ldflags: str
    tags: str = ""
    # runc links libseccomp (Debian's libseccomp-dev at build time); everything else is pure Go.
    cgo: bool = False
    # Two builds may share one module folder (the control plane and the node both come from
    # k8s.io/kubernetes); the name keeps their stamps and logs apart.
    name: str = ""
    root: Path = TOOLS_DIR
    bin_dir: Path = BIN_DIR

    @property
    def label(self) -> str:
        return self.name or self.directory

    @property
    def path(self) -> Path:
        return self.root / self.directory

    def input_hash(self) -> str:
        """Hash of everything that decides the binaries' content, so an unchanged module is never rebuilt."""
        digest = hashlib.sha256()
        digest.update(self.ldflags.encode())
        digest.update(f"{self.tags}\0{self.cgo}".encode())
        digest.update("\0".join(self.packages).encode())
        for file in sorted(self.path.rglob("*")):
            if file.is_file() and (file.suffix == ".go" or file.name in ("go.mod", "go.sum")):
                digest.update(str(file.relative_to(self.path)).encode())
                digest.update(file.read_bytes())
        return digest.hexdigest()

    @property
    def stamp(self) -> Path:
        return self.bin_dir / f".{self.label}.stamp"

    def is_current(self) -> bool:
        if not all((self.bin_dir / name).is_file() for name in self.binaries):
            return False
        return self.stamp.is_file() and self.stamp.read_text().strip() == self.input_hash()


def _kube_ldflags() -> str:
    major, minor = KUBE_VERSION.lstrip("v").split(".")[:2]
    stamps = []
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        stamps += [
            f"-X {package}.gitVersion={KUBE_VERSION}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
        ]
    return " ".join(["-s", "-w", *stamps])


# kube-apiserver, kube-controller-manager and kube-scheduler share one module and one `go build`, so the
# large common part of k8s.io/kubernetes is compiled once.
MODULES: tuple[GoModule, ...] = (
    GoModule(
        directory="kube",
        packages=("./cmd/kube-apiserver", "./cmd/kube-controller-manager", "./cmd/kube-scheduler"),
        binaries=("kube-apiserver", "kube-controller-manager", "kube-scheduler"),
        ldflags=_kube_ldflags(),
    ),
    GoModule(directory="etcd", packages=(".",), binaries=("etcd",), ldflags="-s -w"),
    GoModule(
        directory="kwok",
        packages=("sigs.k8s.io/kwok/cmd/kwok",),
        binaries=("kwok",),
        ldflags=f"-s -w -X sigs.k8s.io/kwok/pkg/consts.Version={KWOK_VERSION}",
    ),
    GoModule(
        directory="helm",
        packages=("helm.sh/helm/v3/cmd/helm",),
        binaries=("helm",),
        ldflags=f"-s -w -X helm.sh/helm/v3/internal/version.version={HELM_VERSION}",
    ),
)
# The real node: kubelet, kube-proxy and kubectl from the same k8s.io/kubernetes as the control plane, and
# the container runtime, pod network, cluster DNS and image builder from their own upstream modules.
NODE_MODULES: tuple[GoModule, ...] = (
    GoModule(
        directory="kube",
        name="kube-node",
        packages=(
            "k8s.io/kubernetes/cmd/kubelet",
            "k8s.io/kubernetes/cmd/kube-proxy",
            "k8s.io/kubernetes/cmd/kubectl",
        ),
        binaries=("kubelet", "kube-proxy", "kubectl"),
        ldflags=_kube_ldflags(),
    ),
    GoModule(
        directory="runc",
        packages=("github.com/opencontainers/runc",),
        binaries=("runc",),
        # Upstream's default `libpathrs` tag needs a Rust C library; seccomp is what pods need.
        tags="seccomp urfave_cli_no_docs",
        cgo=True,
        ldflags=f"-s -w -X main.version={RUNC_VERSION.lstrip('v')}",
    ),
    GoModule(
        directory="containerd",
        packages=(
            "github.com/containerd/containerd/v2/cmd/containerd",
            "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2",
            "github.com/containerd/containerd/v2/cmd/ctr",
        ),
        binaries=("containerd", "containerd-shim-runc-v2", "ctr"),
        tags="urfave_cli_no_docs no_btrfs",
        ldflags=f"-s -w -X github.com/containerd/containerd/v2/version.Version={CONTAINERD_VERSION}",
    ),
    GoModule(
        directory="cni",
        packages=tuple(
            f"github.com/containernetworking/plugins/plugins/{path}"
            for path in ("main/bridge", "ipam/host-local", "main/loopback", "meta/portmap")
        ),
        binaries=("bridge", "host-local", "loopback", "portmap"),
        ldflags="-s -w",
    ),
    GoModule(
        directory="coredns", packages=("github.com/coredns/coredns",), binaries=("coredns",), ldflags="-s -w"
    ),
    GoModule(
        directory="buildkit",
        packages=("github.com/moby/buildkit/cmd/buildkitd", "github.com/moby/buildkit/cmd/buildctl"),
        binaries=("buildkitd", "buildctl"),
        tags="osusergo netgo grpcnotrace seccomp",
        ldflags=f"-s -w -X github.com/moby/buildkit/version.Version={BUILDKIT_VERSION}",
    ),
    # NetworkPolicy enforcement: kube-router with only its network policy controller on (iptables and ipset
    # rules per pod); its router and service proxy stay off, the bridge and kube-proxy do those.
    GoModule(
        directory="kube-router",
        packages=("github.com/cloudnativelabs/kube-router/v2/cmd/kube-router",),
        binaries=("kube-router",),
        ldflags="-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version="
        + KUBE_ROUTER_VERSION,
    ),
)
# Monitoring: Prometheus scrapes the chat service in the integration tier (every dashboard query is run
# against it) and promtool unit-tests the chart's alert rules. `remove_all_sd` leaves out the cloud
# service discoveries (static and file targets stay), which halves the build; `enable_kubernetes_sd` keeps
# the one a ServiceMonitor translates to (devcluster/monitoring.py scrapes the real node's pods with it).
MONITORING_MODULES: tuple[GoModule, ...] = (
    GoModule(
        directory="prometheus",
        packages=tuple(f"github.com/prometheus/prometheus/cmd/{name}" for name in ("prometheus", "promtool")),
        binaries=("prometheus", "promtool"),
        tags="remove_all_sd enable_kubernetes_sd netgo",
        ldflags=f"-s -w -X github.com/prometheus/common/version.Version={PROMETHEUS_VERSION}",
    ),
    # The adapter serves the chart's adapter rules as custom.metrics.k8s.io for the HPA (real-node tests).
    GoModule(
        directory="prometheus-adapter",
        packages=("sigs.k8s.io/prometheus-adapter/cmd/adapter",),
        binaries=("prometheus-adapter",),
        ldflags="-s -w",
    ),
)
# Pipelines: actionlint checks the GitHub Actions workflow of examples/pipelines (types of expressions, known
# actions' inputs, runner labels); its shellcheck and pyflakes integrations are external programs, not built.
PIPELINE_MODULES: tuple[GoModule, ...] = (
    GoModule(
        directory="actionlint",
        packages=("github.com/rhysd/actionlint/cmd/actionlint",),
        binaries=("actionlint",),
        ldflags=f"-s -w -X github.com/rhysd/actionlint.version={ACTIONLINT_VERSION}",
    ),
)
ALL_MODULES: tuple[GoModule, ...] = MODULES + NODE_MODULES + MONITORING_MODULES + PIPELINE_MODULES
TOOL_NAMES: tuple[str, ...] = tuple(name for module in ALL_MODULES for name in module.binaries)
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
NODE = tuple(name for module in NODE_MODULES for name in module.binaries)
MONITORING = tuple(name for module in MONITORING_MODULES for name in module.binaries)
PIPELINES = tuple(name for module in PIPELINE_MODULES for name in module.binaries)


def module_of(name: str) -> GoModule:
    """The module that builds binary `name`; unknown names are a clear error, not a KeyError."""
    for module in ALL_MODULES:
        if name in module.binaries:
            return module
    raise ToolBuildError(f"unknown tool {name!r}; known tools: {', '.join(TOOL_NAMES)}")


def go_binary() -> str:
    """Path of the Go toolchain; absent Go is reported with what to install instead of a traceback."""
    found = shutil.which("go") or next(
        (p for p in ("/usr/local/go/bin/go", "/usr/lib/go/bin/go") if os.access(p, os.X_OK)), None
    )
    if found is None:
        raise ToolBuildError(
            "the Go toolchain (`go`, 1.26 or newer) is needed to build the local control plane and helm "
            "from source; install it from https://go.dev/dl/ and put it on PATH"
        )
    return found


def _echo(message: str) -> None:
    print(f"[chatfleet tools] {message}", file=sys.stderr, flush=True)


def _build(module: GoModule, go: str, progress: Callable[[str], None]) -> None:
    """One `go build` into a scratch folder, then an atomic rename: a half-built binary is never used."""
    scratch = module.bin_dir / f".build-{module.label}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    log = module.bin_dir / f"{module.label}.build.log"
    env = {
        **os.environ,
        "CGO_ENABLED": "1" if module.cgo else "0",
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-mod=readonly -buildvcs=false",
    }
    tags = ["-tags", module.tags] if module.tags else []
    # One package is written under its binary's name (upstream's cmd/adapter becomes prometheus-adapter).
    output = str(scratch / module.binaries[0]) if len(module.packages) == 1 else f"{scratch}/"
    command = [
        go,
        "build",
        "-trimpath",
        *tags,
        "-ldflags",
        module.ldflags,
        "-o",
        output,
        *module.packages,
    ]
    progress(f"building {', '.join(module.binaries)} from tools/{module.directory} (go build; log: {log})")
    started = time.monotonic()
    with log.open("w") as out:
        result = subprocess.run(command, cwd=module.path, env=env, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise ToolBuildError(
            f"go build of tools/{module.directory} ({module.label}) failed "
            f"(exit {result.returncode}):\n{tail}"
        )
    for name in module.binaries:
        os.replace(scratch / name, module.bin_dir / name)
    scratch.rmdir()
    module.stamp.write_text(module.input_hash() + "\n")
    progress(f"built {', '.join(module.binaries)} in {time.monotonic() - started:.0f} s")


def build_modules(modules: Iterable[GoModule], progress: Callable[[str], None] = _echo) -> None:
    """Builds each module whose binaries are missing or stale, all modules at once.

    Concurrent `go build`s keep both cores busy while another one is in a single-threaded phase (linking a
    100 MB binary, a long compile at the top of the graph). A file lock serialises concurrent callers
    (several pytest sessions at once); whoever waited then finds the binaries current and builds nothing.
    """
    modules = list(modules)
    if all(module.is_current() for module in modules):
        return
    for bin_dir in dict.fromkeys(module.bin_dir for module in modules):
        bin_dir.mkdir(parents=True, exist_ok=True)
    with (modules[0].bin_dir / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stale = [module for module in modules if not module.is_current()]
        if stale:
            go = go_binary()
            with ThreadPoolExecutor(max_workers=len(stale)) as pool:
                builds = [pool.submit(_build, module, go, progress) for module in stale]
            for build in builds:
                build.result()  # re-raises the first failure after every build has finished


def ensure_built(
    names: Iterable[str] | None = None, progress: Callable[[str], None] = _echo
) -> dict[str, Path]:
    """Builds the named tools (all when None) unless their cached binaries match their inputs.

    Returns name -> binary path, e.g. `ensure_built(["helm"])["helm"]`.
    """
    wanted = list(TOOL_NAMES if names is None else names)
    modules = list(dict.fromkeys(module_of(name) for name in wanted))
    build_modules(modules, progress)
    return {name: module_of(name).bin_dir / name for name in wanted}
