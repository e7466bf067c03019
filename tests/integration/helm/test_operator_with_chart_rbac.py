"""The operator, started exactly as the chart's Deployment starts it and authenticated as the chart's
ServiceAccount, reconciles a ChatApplication: least privilege is also enough privilege.

No kubelet runs here, so the operator runs as a local process with the Deployment's arguments and
environment (only the liveness address moves from 0.0.0.0:8080 to a free loopback port) and a kubeconfig
holding a token the API server issued for the chart's ServiceAccount (TokenRequest, as a pod would get).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from chatfleet.contracts.resource import CRD_NAME, GROUP, PLURAL, VERSION
from chatfleet.devcluster.cluster import LocalCluster
from chatfleet.paths import EXAMPLES_DIR, HELM_DIR
from tests.helpers.net import free_port

CHART = HELM_DIR / "chatfleet"
RELEASE = "ops"
SYSTEM = "ops-system"
TEAM = "team-ops"
APP = "hello-chat"



def service_account_kubeconfig(cluster: LocalCluster, api: ApiClient, path: Path, sa: str) -> Path:
    """A kubeconfig with a TokenRequest token of the ServiceAccount, as a pod's projected token."""
    token = client.CoreV1Api(api).create_namespaced_service_account_token(
        sa, SYSTEM, {"spec": {"expirationSeconds": 3600}}
    )
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": admin["clusters"],
        "users": [{"name": sa, "user": {"token": token.status.token}}],
        "contexts": [{"name": "sa", "context": {"cluster": admin["clusters"][0]["name"], "user": sa}}],
        "current-context": "sa",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def wait_for(
    predicate: Callable[[], Any], what: str, process: subprocess.Popen[str], timeout: float = 90
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, (
            f"the operator exited ({process.returncode}) while waiting until {what}"
        )
        result = predicate()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting until {what}")


def read_or_none(reader: Callable[[], Any]) -> Any:
    try:
        return reader()
    except ApiException as error:
        if error.status in (404, 503):
            return None
        raise


@pytest.fixture
def installed(release_cluster: LocalCluster, helm_cli: Callable[..., str]) -> Iterator[ApiClient]:
    """A namespace-scoped release (one replica) watching TEAM; uninstalled afterwards, CRD included."""
    api = release_cluster.api_client()
    client.CoreV1Api(api).create_namespace({"metadata": {"name": TEAM}})
    helm_cli(
        release_cluster, "install", RELEASE, str(CHART), "-n", SYSTEM, "--create-namespace",
        "--set-json", f'operator.watchNamespaces=["{TEAM}"]', "--set", "operator.replicaCount=1",
        "--set", "crds.keep=false",
    )  # fmt: skip
    yield api
    helm_cli(release_cluster, "uninstall", RELEASE, "-n", SYSTEM, "--wait")
    extensions = client.ApiextensionsV1Api(api)
    deadline = time.monotonic() + 60
    while (
        read_or_none(lambda: extensions.read_custom_resource_definition(CRD_NAME)) and time.monotonic() < deadline
    ):
        time.sleep(0.3)
    client.CoreV1Api(api).delete_namespace(TEAM)


def test_operator_reconciles_with_only_the_charts_permissions(
    release_cluster: LocalCluster, installed: ApiClient, tmp_path: Path
) -> None:
    api = installed
    deployment = client.AppsV1Api(api).read_namespaced_deployment("ops-chatfleet-operator", SYSTEM)
    pod = deployment.spec.template.spec
    (container,) = pod.containers
    port = free_port()
    metrics_port = free_port()  # the chart's fixed ports could be taken on a shared test host
    args = [
        f"--liveness=http://127.0.0.1:{port}/healthz"
        if a.startswith("--liveness=")
        else f"--metrics-port={metrics_port}"
        if a.startswith("--metrics-port=")
        else a
        for a in container.args
    ]
    assert f"--namespace={TEAM}" in args and "--peering=chatfleet" in args
    env = {e.name: e.value for e in container.env if e.value is not None}
    env["POD_ID"] = "ops-chatfleet-operator-test-0"  # the downward API's metadata.name in a real pod
    kubeconfig = service_account_kubeconfig(
        release_cluster, api, tmp_path / "sa.kubeconfig", pod.service_account_name
    )
    log = tmp_path / "operator.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("chatfleet")), *args],
            env={**os.environ, **env, "KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path)},
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    try:
        # The chart's probes call this endpoint; it answers once kopf is up.
        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for(healthy, "kopf's liveness endpoint answers", process)

        body = yaml.safe_load((EXAMPLES_DIR / "minimal.yaml").read_text())
        body["metadata"]["namespace"] = TEAM
        custom = client.CustomObjectsApi(api)
        custom.create_namespaced_custom_object(GROUP, VERSION, TEAM, PLURAL, body)

        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        readers = {
            "Deployment": lambda: apps.read_namespaced_deployment(APP, TEAM),
            "Service": lambda: core.read_namespaced_service(APP, TEAM),
            "ServiceAccount": lambda: core.read_namespaced_service_account(APP, TEAM),
            "HorizontalPodAutoscaler": lambda: client.AutoscalingV2Api(
                api
            ).read_namespaced_horizontal_pod_autoscaler(APP, TEAM),
            "PodDisruptionBudget": lambda: client.PolicyV1Api(api).read_namespaced_pod_disruption_budget(
                APP, TEAM
            ),
            "NetworkPolicy": lambda: client.NetworkingV1Api(api).read_namespaced_network_policy(APP, TEAM),
        }
        for kind, reader in readers.items():
            wait_for(lambda reader=reader: read_or_none(reader), f"the operator created the {kind}", process)

        def observed() -> bool:
            status = custom.get_namespaced_custom_object(
                GROUP, VERSION, TEAM, PLURAL, APP
            )
            return status.get("status", {}).get("observedGeneration") == status["metadata"]["generation"]

        wait_for(observed, "the operator wrote the status", process)

        # Peering through the chart's KopfPeering object: the operator announced itself in it.
        peering = custom.get_namespaced_custom_object("kopf.dev", "v1", TEAM, "kopfpeerings", "chatfleet")
        assert env["POD_ID"] in peering.get("status", {})

        # Deleting the app while the operator runs releases its finalizer (the CRD can then go too).
        custom.delete_namespaced_custom_object(GROUP, VERSION, TEAM, PLURAL, APP)
        wait_for(
            lambda: (
                read_or_none(
                    lambda: custom.get_namespaced_custom_object(
                        GROUP, VERSION, TEAM, PLURAL, APP
                    )
                )
                is None
            ),
            "the operator released the deleted app",
            process,
        )
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    text = log.read_text()
    assert "Forbidden" not in text and "403" not in text, text[-3000:]
