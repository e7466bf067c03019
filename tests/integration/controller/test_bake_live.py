"""The bake after promotion, end to end: a promoted revision that breaks under live traffic is rolled back.

Real parts only: the operator process (local gate runner) against the real API server, a real `chatfleet
serve` streaming from the simulator, a real Prometheus (built from source) scraping the service with the
labels the chart's ServiceMonitor attaches (`namespace`, `app`, `revision`), and live traffic from threads.
The first new revision holds its SLOs for the bake and stays; the second is promoted by its gate, then the
simulator turns slow, and the operator rolls the app back to the first, naming the figure, SLO and window.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from chatfleet.chat.simulator.background import run_in_background
from chatfleet.chat.simulator.config import SimulatorConfig
from chatfleet.contracts.resource import KIND
from chatfleet.controller import naming as n
from chatfleet.controller.kube import KubeClient
from chatfleet.controller.loading import parse_application
from chatfleet.controller.render import revision
from chatfleet.paths import HELM_DIR
from tests.helpers.net import free_port
from tests.helpers.processes import stop

APP = "bake"
DASHBOARD = HELM_DIR / "chatfleet" / "files" / "dashboards" / "chatfleet-chat-app.json"
BAKE = {"duration": "20s", "window": "10s", "minRequests": 3}
SLO = {"ttftP95Ms": 2000, "errorRatePercent": 20, "minTokensPerSecond": 1}


def _ready(url: str, path: str) -> bool:
    try:
        return httpx.get(url + path, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def simulator() -> Iterator[str]:
    with run_in_background(SimulatorConfig(ttft_ms=30, tokens_per_second=400)) as running:
        yield running.base_url


@pytest.fixture
def metrics_port() -> int:
    """The chat service's /metrics listener (never its user port), what Prometheus scrapes."""
    return free_port()


@pytest.fixture
def chat_service(
    simulator: str, metrics_port: int, tmp_path: Path, wait: Callable[..., Any]
) -> Iterator[str]:
    port = free_port()
    pool = [{"name": "sim", "endpoint": simulator, "deployment": "gpt-4o-mini", "apiKey": "local-simulator"}]
    env = {"CHATFLEET_OPENAI_DEPLOYMENTS": json.dumps(pool), "CHATFLEET_TENANT_TOKENS_PER_MINUTE": "0"}
    log = (tmp_path / "chat.log").open("wb")
    ports = ["--port", str(port), "--metrics-port", str(metrics_port)]
    process = subprocess.Popen(
        [sys.executable, "-m", "chatfleet", "serve", "--dev", "--host", "127.0.0.1", *ports],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
        env={**os.environ, **env},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait(lambda: _ready(url, "/readyz"), 90, "chat service ready")
        yield url
    finally:
        stop(process, 20)
        log.close()


class Prometheus:
    """Prometheus scraping the chat service through a file_sd target whose labels a test rewrites."""

    def __init__(self, folder: Path, metrics_address: str) -> None:
        from chatfleet.devcluster.tools import ensure_built

        self.targets = folder / "targets" / "chat.yaml"
        self.targets.parent.mkdir()
        self.chat = metrics_address
        config = {
            "global": {"scrape_interval": "1s"},
            "scrape_configs": [
                {
                    "job_name": "chat",
                    "file_sd_configs": [{"files": [str(self.targets)], "refresh_interval": "1s"}],
                },
                {
                    # The operator's metrics, kept as exported (honorLabels, as the chart's ServiceMonitor).
                    "job_name": "operator",
                    "honor_labels": True,
                    "file_sd_configs": [
                        {"files": [str(self.targets.parent / "operator.yaml")], "refresh_interval": "1s"}
                    ],
                },
            ],
        }
        (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.url = f"http://127.0.0.1:{free_port()}"
        self.process = subprocess.Popen(
            [
                str(ensure_built(["prometheus"])["prometheus"]),
                f"--config.file={folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address={self.url.removeprefix('http://')}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(folder / "prometheus.log").open("w"),
        )

    def scrape_operator(self, metrics_url: str) -> None:
        address = metrics_url.removeprefix("http://").removesuffix("/metrics")
        (self.targets.parent / "operator.yaml").write_text(yaml.safe_dump([{"targets": [address]}]))

    def query(self, expr: str) -> list[dict[str, Any]]:
        body = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10).json()
        assert body["status"] == "success", body
        return body["data"]["result"]  # type: ignore[no-any-return]

    def label(self, namespace: str, revision_id: str) -> None:
        """What the ServiceMonitor's relabelling yields for a pod of `revision_id` (written atomically)."""
        labels = {"namespace": namespace, "app": APP, "revision": revision_id}
        scratch = self.targets.with_suffix(".tmp")
        scratch.write_text(yaml.safe_dump([{"targets": [self.chat], "labels": labels}]))
        scratch.replace(self.targets)


@pytest.fixture
def prometheus(
    chat_service: str, metrics_port: int, tmp_path: Path, wait: Callable[..., Any]
) -> Iterator[Prometheus]:
    running = Prometheus(tmp_path, f"127.0.0.1:{metrics_port}")
    try:
        wait(lambda: _ready(running.url, "/-/ready"), 60, "Prometheus ready")
        yield running
    finally:
        stop(running.process, 10)


@pytest.fixture
def traffic(chat_service: str) -> Iterator[None]:
    """Six users asking in a loop, as production would while the revision bakes."""
    done = threading.Event()

    def user() -> None:
        body = {"messages": [{"role": "user", "content": "How many vacation days do I get?"}]}
        with httpx.Client(
            base_url=chat_service, headers={"X-Chatfleet-Tenant": "contoso"}, timeout=30
        ) as client:
            while not done.is_set():
                try:
                    client.post("/chat/stream", json=body).read()
                except httpx.HTTPError:
                    done.wait(0.2)

    threads = [threading.Thread(target=user, daemon=True) for _ in range(6)]
    for thread in threads:
        thread.start()
    yield
    done.set()
    for thread in threads:
        thread.join(timeout=40)


def test_breach_after_promotion_rolls_back_to_the_previous_revision(
    operator_factory, kube: KubeClient, private_namespace: str, app_doc, chat_service: str, simulator: str,
    prometheus: Prometheus, traffic: None, wait: Callable[..., Any],
) -> None:  # fmt: skip
    ns = private_namespace
    operator = operator_factory(
        [ns], CHATFLEET_OPERATOR_GATE_RUNNER="local", CHATFLEET_OPERATOR_PROMETHEUS_URL=prometheus.url
    )
    prometheus.scrape_operator(operator.metrics)
    rollout = {
        "strategy": "Gated",
        "gateTimeout": "90s",
        "loadTest": {"users": 2, "spawnRate": 2, "duration": "5s", "slo": SLO},
        "bake": BAKE,
    }
    doc = app_doc(APP, ns, {"spec": {"rollout": rollout, "scaling": {"streamsPerReplica": 4}}})
    doc["metadata"]["annotations"] = {n.LOADTEST_HOST_ANNOTATION: chat_service}
    kube.create(doc)
    wait(lambda: (kube.get(KIND, ns, APP).get("status") or {}).get("revision", {}).get("current"), 30)

    def status() -> dict[str, Any]:
        return kube.get(KIND, ns, APP).get("status") or {}

    def release(image: str) -> str:
        """Changes the image; returns the new revision once its gate has promoted it (it then bakes)."""
        updated = kube.request(
            "PATCH", kube.path(KIND, ns, APP), body={"spec": {"image": image}},
            content_type="application/merge-patch+json",
        )  # fmt: skip
        candidate = revision(APP, parse_application(updated).spec)
        prometheus.label(ns, candidate)  # the only pods left after promotion are the candidate's
        wait(
            lambda: (
                status().get("revision", {}).get("current") == candidate
                and status()["rollout"]["phase"] == "Baking"
            ),
            120,
            f"{candidate} promoted and baking\n{operator.log()}",
        )
        return candidate

    second = release("registry.example/chat:2.0.0")
    baked = wait(
        lambda: status()["rollout"]["phase"] != "Baking" and status(),
        90,
        f"bake of {second}\n{operator.log()}",
    )
    assert baked["rollout"]["phase"] == "Idle" and baked["revision"]["current"] == second, baked
    assert f"baked for {BAKE['duration']}" in baked["rollout"]["message"]

    third = release("registry.example/chat:3.0.0")
    httpx.put(f"{simulator}/_sim/faults", json={"added_latency_ms": 3000}, timeout=5).raise_for_status()
    failed = wait(
        lambda: status()["rollout"]["phase"] == "Failed" and status(), 90, f"rollback\n{operator.log()}"
    )

    assert failed["revision"]["current"] == second and failed["revision"]["candidate"] == third, failed
    degraded = next(c for c in failed["conditions"] if c["type"] == "Degraded")
    assert degraded["status"] == "True" and degraded["reason"] == "BakeFailed"
    assert "live TTFT p95" in degraded["message"] and "> SLO 2000 ms over the last 10s" in degraded["message"]
    image = kube.get("Deployment", ns, APP)["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example/chat:2.0.0"
    events = kube.request("GET", f"/api/v1/namespaces/{ns}/events")["items"]
    assert any(e["reason"] == "RolledBack" and third in e["message"] for e in events)

    # The dashboard's gate panel: the app's history from the operator's metrics, as Prometheus scraped them.
    (panel,) = [
        p for p in json.loads(DASHBOARD.read_text())["panels"] if p["title"] == "Gate and bake outcomes"
    ]
    query = panel["targets"][0]["expr"].replace("$namespace", ns).replace("$app", APP)
    outcomes = wait(lambda: len(prometheus.query(query)) == 2 and prometheus.query(query), 30, "gate panel")
    counted = {(o["metric"]["result"], o["metric"]["reason"]): float(o["value"][1]) for o in outcomes}
    assert counted == {("passed", "SLOsMet"): 2.0, ("failed", "BakeFailed"): 1.0}, counted
