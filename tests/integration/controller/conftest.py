"""Fixtures of the operator's integration tests: the CRD installed, namespaces, a running operator.

The operator runs as a real `chatfleet operator run` subprocess (so SIGKILL tests are honest) with short
timers. The session operator watches namespaces `ctl-*`; tests that need their own operator use others.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from chatfleet.controller.crd import crd_manifest
from chatfleet.controller.kube import KubeClient
from chatfleet.devcluster.cluster import LocalCluster
from tests.helpers.merge_patch import merged
from tests.helpers.net import free_port
from tests.helpers.processes import stop
from tests.helpers.waiting import eventually

CASES_FILE = Path(__file__).resolve().parents[2] / "unit" / "controller" / "cel_cases.yaml"
FAST_SETTINGS = {
    "CHATFLEET_OPERATOR_RESYNC_SECONDS": "3",
    "CHATFLEET_OPERATOR_GATE_POLL_SECONDS": "0.5",
    "CHATFLEET_OPERATOR_DEBOUNCE_SECONDS": "0.2",
    "CHATFLEET_OPERATOR_RETRY_SECONDS": "1",
    "CHATFLEET_OPERATOR_MAX_WORKERS": "8",
}



@pytest.fixture(scope="session")
def cel_table() -> dict[str, Any]:
    return yaml.safe_load(CASES_FILE.read_text())


@pytest.fixture(scope="session")
def kube(cluster: LocalCluster) -> KubeClient:
    return KubeClient(cluster.api_client())


@pytest.fixture(scope="session")
def crd(cluster: LocalCluster) -> dict[str, Any]:
    """The generated CRD, installed (or updated) and Established."""
    api = client.ApiextensionsV1Api(cluster.api_client())
    manifest = crd_manifest()
    name = manifest["metadata"]["name"]
    try:
        api.create_custom_resource_definition(manifest)
    except ApiException as error:
        if error.status != 409:
            raise
        live = api.read_custom_resource_definition(name)
        manifest["metadata"]["resourceVersion"] = live.metadata.resource_version
        api.replace_custom_resource_definition(name, manifest)

    def established() -> bool:
        conditions = api.read_custom_resource_definition(name).status.conditions or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    eventually(established, 30, "CRD Established")
    return manifest


def _namespace(cluster: LocalCluster, prefix: str) -> Iterator[str]:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(cluster.api_client())
    labels = {"pod-security.kubernetes.io/enforce": "restricted"}  # the chat pods must pass restricted
    core.create_namespace({"metadata": {"name": name, "labels": labels}})
    eventually(lambda: _has_default_sa(core, name), 30, "default ServiceAccount")
    yield name
    core.delete_namespace(name)


def _has_default_sa(core: client.CoreV1Api, namespace: str) -> bool:
    try:
        core.read_namespaced_service_account("default", namespace)
        return True
    except ApiException:
        return False


@pytest.fixture
def namespace(cluster: LocalCluster) -> Iterator[str]:
    """A namespace the session operator watches."""
    yield from _namespace(cluster, "ctl")


@pytest.fixture
def private_namespace(cluster: LocalCluster) -> Iterator[str]:
    """A namespace no session operator watches (tests run their own)."""
    yield from _namespace(cluster, "own")


class OperatorProcess:
    """`chatfleet operator run` as a subprocess with its log kept for failure messages."""

    def __init__(self, cluster: LocalCluster, log_dir: Path, namespaces: list[str], **env: str) -> None:
        self.log_path = log_dir / f"operator-{uuid.uuid4().hex[:6]}.log"
        self.liveness = f"http://127.0.0.1:{free_port()}/healthz"
        args = [sys.executable, "-m", "chatfleet", "operator", "run", "--liveness", self.liveness]
        for ns in namespaces:
            args += ["--namespace", ns]
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            args, env={**cluster.env(), **FAST_SETTINGS, **env}, stdout=self._log, stderr=subprocess.STDOUT
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def kill(self) -> None:
        """SIGKILL: no cleanup handlers, exactly like an OOM kill or a node loss."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            stop(self.process, 15)
        self._log.close()


@pytest.fixture(scope="session")
def operator_factory(cluster: LocalCluster, crd: dict[str, Any], tmp_path_factory: pytest.TempPathFactory):
    started: list[OperatorProcess] = []
    log_dir = tmp_path_factory.mktemp("operator-logs")

    def start(namespaces: list[str], **env: str) -> OperatorProcess:
        process = OperatorProcess(cluster, log_dir, namespaces, **env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="session")
def operator(operator_factory) -> OperatorProcess:
    """The session operator (Job gate runner) for namespaces ctl-*."""
    return operator_factory(["ctl-*"])


@pytest.fixture
def app_doc(cel_table: dict[str, Any]) -> Callable[..., dict[str, Any]]:
    """A valid ChatApplication document (the CEL table's base) with a merge patch applied."""

    def build(name: str, namespace: str, patch: dict[str, Any] | None = None) -> dict[str, Any]:
        doc = merged(cel_table["base"], {"metadata": {"name": name, "namespace": namespace}})
        return merged(doc, patch or {})

    return build


@pytest.fixture(scope="session")
def wait() -> Callable[..., Any]:
    """`wait(check, timeout, what)`: polls until check() is truthy and returns it."""
    return eventually
