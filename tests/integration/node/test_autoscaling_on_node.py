"""The HPA the operator renders scales real chat pods on the real node, end to end.

Prometheus scrapes the pods as the chart's ServiceMonitor says, prometheus-adapter serves the chart's rules
as custom.metrics.k8s.io, kube-controller-manager's HPA controller reads them; `chatfleet loadtest` drives
the app's Service from the host and the simulator (on the host, behind a Service) plays Azure OpenAI.

Phases: (1) spike: fast simulator, 3 -> 15 users, so in-flight streams ask for pods; (2) idle: the
Deployment scales back down after the (shortened) stabilisation window; (3) TTFT guard: one user (streams per
pod far below target) while the simulator is slow, so only the TTFT p95 asks for a pod. The sampled
timeline is printed and written to $CHATFLEET_HPA_TIMELINE when set (docs/sre-loadtests.md quotes one).

The children are what the operator's render() makes of the ChatApplication (its HPA, metrics Service,
Deployment), with sign-in off and an API key for the simulator in the chat settings: a local node has no
Entra tenant to sign in with and no workload identity to call Azure OpenAI with.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client, utils

from chatfleet.chat.simulator.background import RunningSimulator, run_in_background
from chatfleet.chat.simulator.config import SimulatorConfig
from chatfleet.contracts.resource import GROUP, PLURAL, VERSION
from chatfleet.controller.crd import crd_manifest
from chatfleet.controller.loading import parse_application
from chatfleet.controller.render import render
from chatfleet.devcluster.cluster import LocalCluster
from chatfleet.devcluster.monitoring import Monitoring
from chatfleet.devcluster.node import NODE_IP
from tests.helpers.processes import stop
from tests.helpers.waiting import eventually

from .conftest import NodeImages

pytestmark = pytest.mark.timeout(900)
APP = "scaler"
STREAMS_PER_POD = 3
TTFT_TARGET_MS = 1500
WINDOW_S = 30
MAX_REPLICAS = 4
SLOW_MS = 2500  # simulator latency of the guard phase: TTFT p95 ~2x the target
# Shorter than the chart's defaults (15 s scrape, 2 m rate window) so each step shows within seconds.
CHART_VALUES = {
    "metrics.serviceMonitor.interval": "5s",
    "metrics.serviceMonitor.scrapeTimeout": "4s",
    "metrics.prometheusAdapter.window": "30s",
}


@dataclass
class Sample:
    t: float
    phase: str
    streams_total: float | None
    streams_avg: str | None
    ttft_p95: str | None
    desired: int
    current: int
    ready: int


@pytest.fixture(scope="module")
def monitoring(real_cluster: LocalCluster) -> Monitoring:
    return Monitoring(real_cluster, CHART_VALUES).start()


@pytest.fixture(scope="module")
def simulator(real_cluster: LocalCluster) -> Iterator[RunningSimulator]:
    """Long answers at 20 tokens/s keep each stream open for seconds, so users turn into streams. On the
    node address, which exists while the real node runs."""
    with run_in_background(SimulatorConfig(tokens_per_second=20), host=NODE_IP) as running:
        yield running


@pytest.fixture
def namespace(real_cluster: LocalCluster) -> Iterator[str]:
    """The app's namespace, deleted afterwards so its pods do not load the node for the next tests."""
    core = client.CoreV1Api(real_cluster.api_client())
    name = f"hpa-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


def _app(namespace: str, image: str, sim_port: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ChatApplication",
        "metadata": {"name": APP, "namespace": namespace},
        "spec": {
            "image": image,
            "identity": {"clientId": "00000000-0000-0000-0000-000000000001"},
            "auth": {"issuer": "https://login.microsoftonline.com/t/v2.0", "audience": "api://scaler"},
            "openai": {
                "deployments": [
                    {
                        "name": "sim",
                        "endpoint": f"http://llm.{namespace}.svc.cluster.local:{sim_port}",
                        "deployment": "gpt-4o-mini",
                    }
                ]
            },
            "scaling": {
                "minReplicas": 1,
                "maxReplicas": MAX_REPLICAS,
                "streamsPerReplica": STREAMS_PER_POD,
                "ttftP95TargetMs": TTFT_TARGET_MS,
                "scaleDownStabilizationSeconds": WINDOW_S,
            },
        },
    }


def _local_settings(manifest: dict[str, Any]) -> dict[str, Any]:
    """The chat settings ConfigMap with sign-in off (tenant from the header) and the simulator's key."""
    if manifest["kind"] != "ConfigMap" or "CHATFLEET_OPENAI_DEPLOYMENTS" not in manifest.get("data", {}):
        return manifest
    data = dict(manifest["data"])
    pool = [{**entry, "apiKey": "local"} for entry in json.loads(data["CHATFLEET_OPENAI_DEPLOYMENTS"])]
    data |= {
        "CHATFLEET_DEV_MODE": "true",
        "CHATFLEET_AUTH_MODE": "none",
        "CHATFLEET_OPENAI_DEPLOYMENTS": json.dumps(pool),
    }
    return {**manifest, "data": data}


def _upstream(namespace: str, port: int) -> list[dict[str, Any]]:
    """`llm.<ns>.svc` -> the simulator on the host (a Service without selector, as for the adapter), on the
    simulator's own port: the rendered NetworkPolicy allows the endpoint URL's port, after DNAT."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "llm", "namespace": namespace},
            "spec": {"ports": [{"name": "http", "port": port, "targetPort": port}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "llm-host",
                "namespace": namespace,
                "labels": {"kubernetes.io/service-name": "llm"},
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [NODE_IP]}],
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        },
    ]


class Timeline:
    """Samples the HPA, the Deployment and Prometheus every two seconds in a thread."""

    def __init__(self, cluster: LocalCluster, monitoring: Monitoring, namespace: str) -> None:
        self.api = cluster.api_client()
        self.monitoring = monitoring
        self.namespace = namespace
        self.samples: list[Sample] = []
        self.phase = "start"
        self.began = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Timeline:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(2):
            try:
                self.samples.append(self._sample())
            except Exception as error:
                print(f"timeline sample failed: {error}", file=sys.stderr)

    def _sample(self) -> Sample:
        hpa = client.AutoscalingV2Api(self.api).read_namespaced_horizontal_pod_autoscaler_status(
            APP, self.namespace
        )
        deployment = client.AppsV1Api(self.api).read_namespaced_deployment(APP, self.namespace)
        metrics = {
            m.pods.metric.name: m.pods.current.average_value
            for m in hpa.status.current_metrics or []
            if m.type == "Pods" and m.pods and m.pods.current
        }
        total = self.monitoring.query(f'sum(chatfleet_inflight_streams{{namespace="{self.namespace}"}})')
        return Sample(
            t=round(time.monotonic() - self.began, 1),
            phase=self.phase,
            streams_total=float(total[0]["value"][1]) if total else None,
            streams_avg=metrics.get("chatfleet_inflight_streams"),
            ttft_p95=metrics.get("chatfleet_ttft_p95_seconds"),
            desired=hpa.status.desired_replicas or 0,
            current=hpa.status.current_replicas or 0,
            ready=deployment.status.ready_replicas or 0,
        )


def _quantity(value: str | None) -> float:
    """A Kubernetes quantity as the HPA reports averages ("1500m", "2", "2250m")."""
    if value is None:
        return 0.0
    return float(value[:-1]) / 1000 if value.endswith("m") else float(value)


def _loadtest(host: str, folder: Path, scenario: str, users: int, seconds: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable, "-m", "chatfleet", "loadtest", "--host", host, "--scenario", scenario,
            "--users", str(users), "--spawn-rate", str(users), "--run-time", f"{seconds}s",
            "--tenant", "contoso", "--json", str(folder / f"{scenario}.json"),
        ],
        stdout=(folder / f"{scenario}.log").open("wb"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip


def test_hpa_scales_on_streams_and_ttft_and_back_down(
    real_cluster: LocalCluster,
    images: NodeImages,
    monitoring: Monitoring,
    simulator: RunningSimulator,
    namespace: str,
    tmp_path: Path,
) -> None:
    api = real_cluster.api_client()
    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    extensions = client.ApiextensionsV1Api(api)
    try:
        extensions.create_custom_resource_definition(crd_manifest())
    except client.exceptions.ApiException as error:
        if error.status != 409:
            raise
    sim_port = int(simulator.base_url.rsplit(":", 1)[1])
    for manifest in _upstream(namespace, sim_port):
        utils.create_from_dict(api, manifest)
    # The ChatApplication exists (its children's owner), no operator runs: its render is applied as is.
    eventually(
        lambda: _try_create(custom, namespace, _app(namespace, images.chat, sim_port)),
        30,
        "ChatApplication created",
    )
    live = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, APP)
    for manifest in render(parse_application(live)):
        utils.create_from_dict(api, _local_settings(manifest))

    apps = client.AppsV1Api(api)
    eventually(
        lambda: (apps.read_namespaced_deployment(APP, namespace).status.ready_replicas or 0) >= 1,
        300,
        "the first chat pod Ready",
    )
    service = core.read_namespaced_service(APP, namespace)
    host = f"http://{service.spec.cluster_ip}:{service.spec.ports[0].port}"
    assert httpx.get(f"{host}/readyz", timeout=10).status_code == 200
    # Prometheus scrapes the pod, then the adapter publishes its streams (the HPA's view, via the API server).
    series = f'chatfleet_inflight_streams{{namespace="{namespace}"}}'
    try:
        eventually(lambda: monitoring.query(series), 60, "Prometheus scraping the chat pod")
        eventually(lambda: _published(monitoring, namespace), 60, "the adapter publishing the streams")
    except AssertionError as error:
        targets = httpx.get(f"{monitoring.url}/api/v1/targets", timeout=10).json()["data"]
        logs = real_cluster.processes.log_tails(15)
        raise AssertionError(f"{error}\ntargets: {json.dumps(targets)[:3000]}\n{logs}") from None
    admin = simulator.base_url

    with Timeline(real_cluster, monitoring, namespace) as timeline:
        # (1) spike from one pod: fast upstream, 3 -> 15 users (the middle third of the run).
        timeline.phase = "spike"
        spike = _loadtest(host, tmp_path, "spike", 3, 75)
        eventually(lambda: _desired(timeline) > 1, 75, "in-flight streams ask for pods")
        spike_scaled = timeline.samples[-1]
        eventually(lambda: _desired(timeline) >= MAX_REPLICAS, 60, "streams scale to maxReplicas")
        assert spike.wait(90) is not None
        # (2) idle: one pod goes after the stabilisation window (10 % per minute: one at a time).
        timeline.phase = "idle"
        peak = max(s.current for s in timeline.samples)
        eventually(lambda: timeline.samples[-1].current < peak, WINDOW_S + 90, "scale-down after the window")
        # (3) TTFT guard: one user (streams far below target) while the upstream is slow.
        timeline.phase = "guard"
        before_guard = timeline.samples[-1].current
        httpx.put(f"{admin}/_sim/faults", json={"added_latency_ms": SLOW_MS}, timeout=5).raise_for_status()
        guard = _loadtest(host, tmp_path, "steady", 1, 90)
        eventually(lambda: _desired(timeline) > before_guard, 90, "the TTFT guard asks for a pod")
        guard_scaled = timeline.samples[-1]
        stop(guard, 10)
        httpx.delete(f"{admin}/_sim/faults", timeout=5).raise_for_status()

    rows = [asdict(s) for s in timeline.samples]
    print(json.dumps(rows))
    if os.environ.get("CHATFLEET_HPA_TIMELINE"):
        Path(os.environ["CHATFLEET_HPA_TIMELINE"]).write_text(json.dumps(rows, indent=1))
    # The first scale-out was on streams: their average per pod was above target.
    assert _quantity(spike_scaled.streams_avg) > STREAMS_PER_POD, spike_scaled
    # No scale-down inside the stabilisation window: the first pod went well after the last sample whose
    # metrics still recommended the peak.
    busy = [s.t for s in timeline.samples if s.phase in ("spike", "idle") and _recommended(s) >= peak]
    first_down = next(s.t for s in timeline.samples if s.t > busy[-1] and s.current < peak)
    assert first_down - busy[-1] >= WINDOW_S * 0.6, (busy[-1], first_down)
    # The guard acted while streams per pod were far below their target.
    assert _quantity(guard_scaled.streams_avg) < STREAMS_PER_POD, guard_scaled
    assert _quantity(guard_scaled.ttft_p95) > TTFT_TARGET_MS / 1000, guard_scaled
    summary = json.loads((tmp_path / "spike.json").read_text())
    assert summary["requests"] > 0


def _recommended(sample: Sample) -> int:
    """The replicas the sample's metrics ask for (the HPA's formula, without its 10 % tolerance)."""
    ratios = (
        _quantity(sample.streams_avg) / STREAMS_PER_POD,
        _quantity(sample.ttft_p95) / (TTFT_TARGET_MS / 1000),
    )
    return min(MAX_REPLICAS, math.ceil(sample.current * max(ratios)))


def _published(monitoring: Monitoring, namespace: str) -> dict[str, str]:
    try:
        return monitoring.pod_metric(namespace, "chatfleet_inflight_streams")
    except RuntimeError:  # NotFound until the adapter's next relist finds the new series
        return {}


def _desired(timeline: Timeline) -> int:
    return timeline.samples[-1].desired if timeline.samples else 0


def _try_create(custom: client.CustomObjectsApi, namespace: str, app: dict[str, Any]) -> bool:
    """The CRD takes a moment to be served after its creation."""
    try:
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, app)
    except client.exceptions.ApiException as error:
        if error.status == 404:
            return False
        raise
    return True
