"""The local-process gate end to end: operator + real `chatfleet loadtest` + real chat service on loopback.

No mocks: the chat service runs in dev mode on its embedded simulator and local index, the operator runs
with CHATFLEET_OPERATOR_GATE_RUNNER=local and the load test really streams answers. A reachable SLO
promotes with measured figures in status; an impossible one rolls back naming the measured TTFT.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from chatfleet.contracts.resource import KIND
from chatfleet.controller import naming as n
from chatfleet.controller.kube import KubeClient
from chatfleet.controller.loading import parse_application
from chatfleet.controller.render import revision
from tests.helpers.net import free_port


@pytest.fixture
def chat_service(tmp_path, wait) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / "chat.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "chatfleet", "serve", "--dev", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait(healthy, 60, "chat service ready")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def gated(slo_ttft_ms: int) -> dict:
    return {
        "rollout": {
            "strategy": "Gated",
            "gateTimeout": "90s",
            "loadTest": {
                "users": 2,
                "spawnRate": 2,
                "duration": "6s",
                "slo": {"ttftP95Ms": slo_ttft_ms, "errorRatePercent": 5, "minTokensPerSecond": 1},
            },
        },
        "scaling": {"streamsPerReplica": 4},
    }


def test_local_process_gate_promotes_then_rolls_back(
    operator_factory, kube: KubeClient, private_namespace: str, app_doc, chat_service: str, wait
) -> None:
    ns = private_namespace
    operator = operator_factory([ns], CHATFLEET_OPERATOR_GATE_RUNNER="local")
    doc = app_doc("local", ns, {"spec": gated(10_000)})
    doc["metadata"]["annotations"] = {n.LOADTEST_HOST_ANNOTATION: chat_service}
    kube.create(doc)
    wait(
        lambda: (kube.get(KIND, ns, "local").get("status") or {}).get("revision"), 30, "deployed"
    )

    def patch(spec: dict) -> str:
        """Changes the spec; returns the new revision."""
        updated = kube.request(
            "PATCH",
            kube.path(KIND, ns, "local"),
            body={"spec": spec},
            content_type="application/merge-patch+json",
        )
        return revision("local", parse_application(updated).spec)

    def gate_done(candidate: str) -> dict:
        def done() -> dict | None:
            status = kube.get(KIND, ns, "local").get("status", {})
            finished = (status.get("loadTest") or {}).get("revision") == candidate
            return status if finished and status["rollout"]["phase"] != "Testing" else None

        return wait(done, 120, f"gate of {candidate}\n" + operator.log())

    status = gate_done(patch({"image": "registry.example/chat:2.0.0"}))
    assert status["rollout"]["phase"] == "Idle", status
    assert status["loadTest"]["passed"] is True and status["loadTest"]["ttftP95Ms"] > 0
    assert status["loadTest"]["requests"] > 0
    deployment = kube.get("Deployment", ns, "local")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/chat:2.0.0"

    status = gate_done(patch({"image": "registry.example/chat:3.0.0", **gated(1)}))
    assert status["rollout"]["phase"] == "Failed", status
    degraded = next(c for c in status["conditions"] if c["type"] == "Degraded")
    assert degraded["status"] == "True" and degraded["reason"] == "SLOFailed"
    assert "ttft" in degraded["message"].lower() and "limit 1" in degraded["message"]
    deployment = kube.get("Deployment", ns, "local")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/chat:2.0.0"
