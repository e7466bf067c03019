"""Every shipped example, applied as an app team would, runs on the real node from the real chat image.

The operator (`chatfleet operator run`, a host process like the control plane) renders each example; the
kubelet starts its pods from the BuildKit-built chat image under the restricted Pod Security level; the
test then reaches the app through its Service. Nothing here is faked: a render -> service mismatch shows
up as pods that never become Ready.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client, utils
from kubernetes.client.exceptions import ApiException

from chatfleet.contracts.resource import GROUP, PLURAL, VERSION
from chatfleet.devcluster.cluster import LocalCluster
from chatfleet.devcluster.images import DEV_TAG
from chatfleet.paths import EXAMPLES_DIR
from tests.helpers.waiting import eventually

from .conftest import NodeImages

pytestmark = pytest.mark.timeout(900)
EXAMPLES = sorted(path.name for path in EXAMPLES_DIR.glob("*.yaml"))


def _documents(example: str, namespace: str, image: str) -> list[dict[str, Any]]:
    docs = [doc for doc in yaml.safe_load_all((EXAMPLES_DIR / example).read_text()) if doc]
    for doc in docs:
        doc["metadata"]["namespace"] = namespace
        if doc["kind"] == "ChatApplication":
            doc["spec"]["image"] = image
    return docs


def _all_replicas_ready(core: client.CoreV1Api, namespace: str, name: str, replicas: int) -> list[Any]:
    def all_ready() -> list[Any]:
        pods = core.list_namespaced_pod(namespace, label_selector=f"app.kubernetes.io/instance={name}").items
        running = [p for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp]
        ready = [p for p in running if all(c.ready for c in p.status.container_statuses or [])]
        return ready if len(ready) == replicas else []

    return eventually(all_ready, 300, f"{namespace}/{name}: {replicas} replicas running and ready")


def _condition(app: dict[str, Any], kind: str) -> str | None:
    for condition in (app.get("status") or {}).get("conditions", []):
        if condition["type"] == kind:
            return str(condition["status"])
    return None


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_runs_on_the_real_node(
    example: str, real_cluster: LocalCluster, images: NodeImages, operator: Path
) -> None:
    api = real_cluster.api_client()
    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    namespace = f"ex-{uuid.uuid4().hex[:6]}"
    # Restricted Pod Security, enforced by the API server's admission: the rendered pods must pass it.
    core.create_namespace(
        {"metadata": {"name": namespace, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    )
    try:
        docs = _documents(example, namespace, images.chat)
        (app,) = [doc for doc in docs if doc["kind"] == "ChatApplication"]
        secret = (app["spec"].get("observability") or {}).get("appInsightsSecretRef")
        if secret:  # the platform team's Secret; a placeholder connection string that is never dialled
            core.create_namespaced_secret(
                namespace,
                client.V1Secret(
                    metadata=client.V1ObjectMeta(name=secret),
                    string_data={
                        "connectionString": "InstrumentationKey=00000000-0000-0000-0000-000000000000"
                    },
                ),
            )
        for doc in docs:
            if doc["kind"] == "ChatApplication":
                custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, doc)
            else:
                utils.create_from_dict(api, doc)
        name = app["metadata"]["name"]

        def ready() -> dict[str, Any] | None:
            live = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
            return live if _condition(live, "Ready") == "True" else None

        try:
            live = eventually(ready, 600, f"{example}: Ready")
        except AssertionError:
            pods = subprocess.run(
                [str(real_cluster.kubectl), "get", "pods,events", "-n", namespace, "-o", "wide"],
                env=real_cluster.env(), capture_output=True, text=True, check=False,
            ).stdout  # fmt: skip
            raise AssertionError(  # noqa: B904 (the wait's own message adds nothing to this one)
                f"{example} never became Ready:\n{pods}\noperator:\n{operator.read_text()[-3000:]}"
            )
        replicas = app["spec"].get("scaling", {}).get("minReplicas", 2)
        # Ready means available (the Deployment's own definition); every replica follows shortly.
        running = _all_replicas_ready(core, namespace, name, replicas)
        for pod in running:
            (container,) = [c for c in pod.status.container_statuses if c.name == "chat"]
            # the runtime names the image by any of its tags: the content-derived one or `:dev`
            same_image = {images.chat, f"{images.chat.rsplit(':', 1)[0]}:{DEV_TAG}"}
            assert container.ready and container.image in same_image, container.image
            assert pod.spec.security_context.run_as_non_root

        service = core.read_namespaced_service(name, namespace)
        base = f"http://{service.spec.cluster_ip}:{service.spec.ports[0].port}"
        assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
        auth = httpx.get(f"{base}/config", timeout=10).json()["auth"]
        # Outside dev mode the service verifies Entra tokens; anonymous chat is refused.
        assert (auth["mode"], auth["enabled"]) == ("entra", True)
        assert (
            httpx.post(
                f"{base}/chat", json={"messages": [{"role": "user", "content": "hi"}]}, timeout=10
            ).status_code
            == 401
        )
        assert live["status"]["replicas"] >= 1
    finally:
        try:
            core.delete_namespace(namespace)
        except ApiException as error:
            if error.status != 404:
                raise


def test_a_killed_chat_process_restarts_while_the_app_keeps_answering(
    real_cluster: LocalCluster, images: NodeImages, operator: Path
) -> None:
    api = real_cluster.api_client()
    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    namespace = f"ex-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": namespace}})
    (app,) = _documents("minimal.yaml", namespace, images.chat)
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, app)
    name = app["metadata"]["name"]
    eventually(
        lambda: (
            _condition(custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name), "Ready")
            == "True"
        ),
        600,
        "minimal app Ready",
    )
    service = core.read_namespaced_service(name, namespace)
    base = f"http://{service.spec.cluster_ip}:{service.spec.ports[0].port}"
    # Both replicas serve before one is killed (Ready on the app means available: one may still start).
    victim = _all_replicas_ready(core, namespace, name, 2)[0]
    assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
    (container,) = [c for c in victim.status.container_statuses if c.name == "chat"]
    os.kill(real_cluster.container_pid(container.container_id), signal.SIGKILL)

    outcomes: list[str] = []

    def answers() -> bool:
        """One request as a retrying client sees it: a connection to the dead pod is refused at once until
        the EndpointSlice drops it (kube-proxy picks an endpoint at random per connection), and a retry lands
        on the replica that keeps serving."""
        for attempt in range(5):
            if attempt:
                time.sleep(0.2)
            try:
                status = httpx.get(f"{base}/readyz", timeout=5).status_code
            except httpx.TransportError as error:
                outcomes.append(type(error).__name__)
                continue
            outcomes.append(str(status))
            if status == 200:
                return True
        return False

    answered = sum(answers() for _ in range(20))

    def restarted_and_ready() -> bool:
        pod = core.read_namespaced_pod(victim.metadata.name, namespace)
        (status,) = [c for c in pod.status.container_statuses if c.name == "chat"]
        return status.restart_count >= 1 and status.ready

    eventually(restarted_and_ready, 180, "the killed chat container restarted and Ready")
    assert answered == 20, outcomes
    core.delete_namespace(namespace)
