"""A kubelet in miniature: runs the chat pod the operator renders as local processes.

What a kubelet does with the rendered objects is done here from those objects alone: volumes (emptyDir,
ConfigMap and Secret with `items`, written in the kubelet's atomic-writer layout with `..data`), mounts
(with `subPath`), env (`value`, `$(VAR)`, `valueFrom` ConfigMap/Secret keys, `envFrom` with `prefix`), the
image's ENV, ENTRYPOINT and CMD under the container's `command`/`args`, init containers to completion in
order, then the chat container. Two namespaces a process cannot have are mapped, nothing else: each mount
path becomes a folder of the pod's temp dir (an absolute path in env or args outside every mount must not
exist on this machine either, so it cannot resolve here while the read-only container lacks it), and
the container port becomes a free loopback port.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dockerfile
import httpx
import pytest

from chatfleet.paths import REPO_ROOT

Obj = dict[str, Any]
BIN = Path(sys.executable).parent
VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def image_config(name: str = "chat") -> tuple[dict[str, str], list[str], list[str]]:
    """ENV, ENTRYPOINT and CMD of the shipped stage of images/Dockerfile.<name>."""
    commands = list(dockerfile.parse_file(str(REPO_ROOT / "images" / f"Dockerfile.{name}")))
    last_from = max(i for i, c in enumerate(commands) if c.cmd == "FROM")
    env: dict[str, str] = {}
    entrypoint: list[str] = []
    cmd: list[str] = []
    for c in commands[last_from:]:
        if c.cmd == "ENV":
            env |= dict(zip(c.value[::2], c.value[1::2], strict=True))
        elif c.cmd == "ENTRYPOINT":
            entrypoint = list(c.value)
        elif c.cmd == "CMD":
            cmd = list(c.value)
    return env, entrypoint, cmd


class PodFailed(AssertionError):
    """The pod would not start (CreateContainerConfigError, Init:Error, CrashLoopBackOff...)."""


@dataclass
class Cluster:
    """The namespace's objects a pod can reference, keyed by (kind, name)."""

    objects: dict[tuple[str, str], Obj] = field(default_factory=dict)

    def add(self, obj: Obj) -> None:
        self.objects[(obj["kind"], obj["metadata"]["name"])] = obj

    def data(self, kind: str, name: str) -> dict[str, str] | None:
        obj = self.objects.get((kind, name))
        if obj is None:
            return None
        values = dict(obj.get("data") or {})
        if kind == "Secret":
            values = {k: base64.b64decode(v).decode() for k, v in values.items()}
            values |= obj.get("stringData") or {}
        return values


def _write_volume(root: Path, files: dict[str, str], items: list[Obj] | None) -> None:
    """The kubelet's atomic writer: files in `..<ts>/`, `..data` -> it, one visible symlink per file."""
    chosen = {i["path"]: files[i["key"]] for i in items} if items else files
    stamp = root / "..2026_01_01_00_00_00.000000001"
    for path, text in chosen.items():
        (stamp / path).parent.mkdir(parents=True, exist_ok=True)
        (stamp / path).write_text(text, encoding="utf-8")
    (root / "..data").symlink_to(stamp.name)
    for top in {Path(p).parts[0] for p in chosen}:
        (root / top).symlink_to(Path("..data") / top)


@dataclass
class Pod:
    """One pod of a rendered Deployment, with its own volumes under `root`."""

    spec: Obj
    cluster: Cluster
    root: Path
    volumes: dict[str, Path] = field(default_factory=dict)
    process: subprocess.Popen[str] | None = None
    url: str = ""
    metrics_url: str = ""
    log: Path | None = None

    def prepare_volumes(self) -> None:
        for volume in self.spec.get("volumes", []):
            path = self.root / "volumes" / volume["name"]
            path.mkdir(parents=True)
            self.volumes[volume["name"]] = path
            for kind, key, name_key in (
                ("ConfigMap", "configMap", "name"),
                ("Secret", "secret", "secretName"),
            ):
                if key in volume:
                    source = volume[key]
                    data = self.cluster.data(kind, source[name_key])
                    if data is None:
                        if source.get("optional"):
                            break
                        raise PodFailed(f"volume {volume['name']}: {kind} {source[name_key]} not found")
                    missing = [i["key"] for i in source.get("items", []) if i["key"] not in data]
                    if missing:
                        raise PodFailed(f"volume {volume['name']}: keys {missing} not in {source[name_key]}")
                    _write_volume(path, data, source.get("items"))
                    break
            else:
                if "emptyDir" not in volume:
                    raise PodFailed(f"volume {volume['name']}: kind not supported by this harness")

    def mounts(self, container: Obj) -> dict[str, Path]:
        """mountPath -> host folder (or file, with subPath)."""
        table = {}
        for mount in container.get("volumeMounts", []):
            host = self.volumes[mount["name"]]
            if mount.get("subPath"):
                host = host / mount["subPath"]
            table[mount["mountPath"]] = host
        return table

    def _map(self, value: str, mounts: dict[str, Path], what: str) -> str:
        """An absolute path must lie in a mount: the container's root filesystem is read-only."""
        if not value.startswith("/"):
            return value
        for mount_path in sorted(mounts, key=len, reverse=True):
            if value == mount_path or value.startswith(mount_path.rstrip("/") + "/"):
                return str(mounts[mount_path]) + value[len(mount_path) :]
        if Path(value).exists():  # it would resolve on this machine, not in the container
            raise PodFailed(f"{what}={value!r} is outside every volume (read-only root filesystem)")
        return value  # missing here as in the container: whoever uses it fails the same way

    def environment(self, container: Obj, mounts: dict[str, Path]) -> dict[str, str]:
        image_env, _, _ = image_config()
        env = {k: v for k, v in image_env.items() if k != "PATH"}
        for source in container.get("envFrom", []):
            for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if key in source:
                    data = self.cluster.data(kind, source[key]["name"])
                    if data is None:
                        raise PodFailed(f"envFrom: {kind} {source[key]['name']} not found")
                    env |= {source.get("prefix", "") + k: v for k, v in data.items()}
        for item in container.get("env", []):
            if "valueFrom" in item:
                ref = item["valueFrom"]
                kind, key = (
                    ("Secret", "secretKeyRef") if "secretKeyRef" in ref else ("ConfigMap", "configMapKeyRef")
                )
                if key not in ref:
                    raise PodFailed(f"env {item['name']}: valueFrom {sorted(ref)} not supported")
                data = self.cluster.data(kind, ref[key]["name"]) or {}
                if ref[key]["key"] not in data:
                    raise PodFailed(
                        f"env {item['name']}: {kind} {ref[key]['name']} has no key {ref[key]['key']}"
                    )
                env[item["name"]] = data[ref[key]["key"]]
            else:
                env[item["name"]] = VAR_REF.sub(
                    lambda m: env.get(m.group(1), m.group(0)), item.get("value", "")
                )
        mapped = {k: self._map(v, mounts, k) for k, v in env.items()}
        return mapped | {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}

    def argv(self, container: Obj, env: dict[str, str], mounts: dict[str, Path]) -> list[str]:
        _, entrypoint, cmd = image_config()
        command = container.get("command") or entrypoint
        args = container.get("args") if "args" in container else (cmd if "command" not in container else [])
        words = [VAR_REF.sub(lambda m: env.get(m.group(1), m.group(0)), w) for w in [*command, *args]]
        program = BIN / words[0] if (BIN / words[0]).exists() else words[0]
        return [str(program), *(self._map(w, mounts, "argument") for w in words[1:])]

    def run_init_containers(self) -> None:
        for container in self.spec.get("initContainers", []):
            mounts = self.mounts(container)
            env = self.environment(container, mounts)
            done = subprocess.run(
                self.argv(container, env, mounts),
                env=env,
                cwd=self.root,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if done.returncode != 0:
                raise PodFailed(
                    f"init container {container['name']} exited {done.returncode}:\n{done.stderr}"
                )

    def start(self) -> None:
        """Volumes, init containers, then the chat container with its port on loopback."""
        self.prepare_volumes()
        self.run_init_containers()
        (container,) = self.spec["containers"]
        mounts = self.mounts(container)
        for mount in container.get("volumeMounts", []):
            if mount.get("readOnly"):  # as the kubelet mounts them once the init containers are done
                _read_only(mounts[mount["mountPath"]])
        env = self.environment(container, mounts)
        argv = self.argv(container, env, mounts)
        (port,) = (p["containerPort"] for p in container["ports"] if p["name"] == "http")
        assert argv[argv.index("--port") + 1] == str(port), "the command must serve on the container port"
        host_port = _free_port()
        argv[argv.index("--port") + 1] = str(host_port)
        argv[argv.index("--host") + 1] = "127.0.0.1"
        (metrics_port,) = (p["containerPort"] for p in container["ports"] if p["name"] == "metrics")
        assert env["CHATFLEET_METRICS_PORT"] == str(metrics_port), "metrics must be served on their port"
        env["CHATFLEET_METRICS_PORT"] = str(_free_port())  # pods side by side on one loopback
        self.metrics_url = f"http://127.0.0.1:{env['CHATFLEET_METRICS_PORT']}/metrics"
        self.log = self.root / "chat.log"
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                argv, env=env, cwd=self.root, stdout=out, stderr=subprocess.STDOUT, text=True
            )
        self.url = f"http://127.0.0.1:{host_port}"
        self.wait_for_probe(container["startupProbe"])

    def wait_for_probe(self, probe: Obj) -> None:
        deadline = time.monotonic() + probe["periodSeconds"] * probe["failureThreshold"]
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise PodFailed(f"chat container exited {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.url + probe["httpGet"]["path"], timeout=2).status_code < 400:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise PodFailed(f"startup probe never passed:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text() if self.log else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _read_only(path: Path) -> None:
    for sub in [path, *path.rglob("*")] if path.is_dir() else [path]:
        if not sub.is_symlink():
            sub.chmod(0o555 if sub.is_dir() else 0o444)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def start_pods(tmp_path: Path) -> Iterator[Any]:
    """`start_pods(pod_spec, cluster, count)` -> running pods; all are stopped after the test."""
    pods: list[Pod] = []

    def start(spec: Obj, cluster: Cluster, count: int = 1) -> list[Pod]:
        started = []
        for _ in range(count):
            pod = Pod(spec, cluster, tmp_path / f"pod-{len(pods)}")
            pod.root.mkdir()
            pods.append(pod)
            pod.start()
            started.append(pod)
        return started

    yield start
    for pod in pods:
        pod.stop()
        for sub in pod.root.rglob("*"):
            if not sub.is_symlink():
                sub.chmod(0o755 if sub.is_dir() else 0o644)  # let pytest clean the read-only mounts


@pytest.fixture
def cluster_type() -> type[Cluster]:
    """The Cluster class (test modules cannot import conftest under importlib mode)."""
    return Cluster
