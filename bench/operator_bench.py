"""Operator benchmark on the local control plane; prints a table (results go to docs/operator.md).

    .venv/bin/python bench/operator_bench.py [--apps 500] [--latency-samples 20]

Measures: (1) apply -> all seven children present, p50/p95 over single creates; (2) N ChatApplications in
one namespace: time until every one is reconciled (observedGeneration + all children), the operator's
peak RSS, API calls per reconcile (from the operator's own counters), and writes during an unchanged
resync (resourceVersions compared before and after two resync periods). The operator runs as the real
`chatfleet operator run` subprocess; the cluster has no nodes (the operator's cost, not KWOK's).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
from kubernetes import client

from chatfleet.contracts.resource import API_VERSION, KIND
from chatfleet.controller import naming as n
from chatfleet.controller.crd import crd_manifest
from chatfleet.controller.kube import KubeClient
from chatfleet.devcluster import cluster as devcluster

# 500 apps need 500 Service IPs; the test cluster's /24 range holds 254.
devcluster.SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16"

KINDS = ["ServiceAccount", "ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler",
         "PodDisruptionBudget", "NetworkPolicy"]  # fmt: skip
RESYNC_SECONDS = 30


def app(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "image": "registry.example/chat:1.0.0",
            "identity": {"clientId": "00000000-0000-0000-0000-000000000001"},
            "auth": {"issuer": "https://login.microsoftonline.com/t/v2.0", "audience": f"api://{name}"},
            "openai": {
                "deployments": [{"name": "east", "endpoint": "https://a.openai.azure.com", "deployment": "d"}]
            },
        },
    }


def wait(check: Any, timeout: float, interval: float = 0.02) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise TimeoutError("benchmark step timed out")
        time.sleep(interval)
    return time.monotonic() - start


class RssSampler(threading.Thread):
    """Peak resident set size of one process, sampled every 100 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.NoSuchProcess:
                return
            time.sleep(0.1)


def cached_list(
    kube: KubeClient, kind: str, namespace: str, selector: str | None = None
) -> list[dict[str, Any]]:
    """A list served from the API server's watch cache (resourceVersion=0): cheap enough to poll."""
    query = {"resourceVersion": "0", **({"labelSelector": selector} if selector else {})}
    return kube.request("GET", kube.path(kind, namespace), query=query).get("items", [])


def managed_count(kube: KubeClient, namespace: str) -> int:
    selector = f"{n.MANAGED_BY}={n.FIELD_MANAGER}"
    return sum(len(cached_list(kube, kind, namespace, selector)) for kind in KINDS)


def versions(kube: KubeClient, namespace: str) -> dict[tuple[str, str], str]:
    out = {}
    selector = f"{n.MANAGED_BY}={n.FIELD_MANAGER}"
    for kind in KINDS:
        for obj in kube.list(kind, namespace, selector):
            key = obj["metadata"]["generation" if kind == "Deployment" else "resourceVersion"]
            out[(kind, obj["metadata"]["name"])] = str(key)
    for obj in kube.list(KIND, namespace):
        out[(KIND, obj["metadata"]["name"])] = obj["metadata"]["resourceVersion"]
    return out


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def measure(kube: KubeClient, apps: int, samples: int, sampler: RssSampler) -> dict[str, Any]:
    time.sleep(3)
    latencies = []
    for index in range(samples):
        name = f"lat-{index:03d}"
        start = time.monotonic()
        kube.create(app(name, "bench-latency"))
        # the NetworkPolicy is applied last; one cheap GET per poll keeps the poller from loading the server
        wait(
            lambda name=name: kube.get("NetworkPolicy", "bench-latency", name) is not None, 60, interval=0.01
        )
        latencies.append(time.monotonic() - start)
        selector = f"{n.INSTANCE}={name}"
        assert sum(len(kube.list(k, "bench-latency", selector)) for k in KINDS) == 7
    progress(f"latency samples done: median {statistics.median(latencies):.3f} s")

    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: kube.create(app(f"app-{i:04d}", "bench-scale")), range(apps)))
    created = time.monotonic() - start
    progress(f"{apps} created in {created:.1f} s")

    def all_reconciled() -> bool:
        bodies = cached_list(kube, KIND, "bench-scale")
        done = sum(
            1 for b in bodies if b.get("status", {}).get("observedGeneration") == b["metadata"]["generation"]
        )
        return done == apps and managed_count(kube, "bench-scale") == 7 * apps

    wait(all_reconciled, 900, interval=2)
    reconciled = time.monotonic() - start
    progress(f"all reconciled after {reconciled:.1f} s, RSS peak {sampler.peak / 2**20:.0f} MiB")
    peak_at_scale = sampler.peak
    time.sleep(RESYNC_SECONDS)  # let Deployment figures settle (the controller manager lags under load)
    before = versions(kube, "bench-scale")
    time.sleep(RESYNC_SECONDS + 5)
    after = versions(kube, "bench-scale")
    changed_keys = [key for key, value in after.items() if before.get(key) != value]
    changed = len(changed_keys)
    if changed:
        progress(f"written during resync: {Counter(kind for kind, _ in changed_keys)}")
    return {
        "latencies": latencies,
        "created": created,
        "reconciled": reconciled,
        "peak_at_scale": peak_at_scale,
        "changed": changed,
        "objects": len(after),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=500)
    parser.add_argument("--latency-samples", type=int, default=20)
    args = parser.parse_args()

    with devcluster.LocalCluster(nodes=0) as cluster:
        kube = KubeClient(cluster.api_client())
        client.ApiextensionsV1Api(cluster.api_client()).create_custom_resource_definition(crd_manifest())
        time.sleep(2)
        for ns in ("bench-latency", "bench-scale"):
            kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": ns}})
        log_path = Path(tempfile.mkdtemp()) / "operator.log"
        env = {**cluster.env(), "CHATFLEET_OPERATOR_RESYNC_SECONDS": str(RESYNC_SECONDS)}
        with log_path.open("wb") as log:
            operator = subprocess.Popen(
                [sys.executable, "-m", "chatfleet", "operator", "run", "-n", "bench-*"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            sampler = RssSampler(operator.pid)
            sampler.start()
            try:
                result = measure(kube, args.apps, args.latency_samples, sampler)
            finally:
                operator.terminate()
                try:
                    operator.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    operator.kill()
                    operator.wait()
                sampler.stop.set()
        stats = re.search(r"operator stats: reconciles=(\d+) reads=(\d+) writes=(\d+)", log_path.read_text())
        reconciles, reads, writes = (int(g) for g in stats.groups()) if stats else (0, 0, 0)

    latencies = result["latencies"]
    created, reconciled, changed = result["created"], result["reconciled"], result["changed"]
    peak_at_scale = result["peak_at_scale"]
    q = statistics.quantiles(latencies, n=20)
    rows = [
        ("apply -> all children present, p50", f"{statistics.median(latencies) * 1000:.0f} ms"),
        ("apply -> all children present, p95", f"{q[18] * 1000:.0f} ms"),
        (f"{args.apps} ChatApplications: created in", f"{created:.1f} s"),
        (f"{args.apps} ChatApplications: all reconciled after", f"{reconciled:.1f} s (target < 60 s)"),
        ("operator peak RSS (target < 200 MiB)", f"{sampler.peak / 2**20:.0f} MiB"),
        (f"operator RSS when all {args.apps} reconciled", f"{peak_at_scale / 2**20:.0f} MiB"),
        ("reconciles run (incl. resyncs, child events)", str(reconciles)),
        ("API calls per reconcile: reads", f"{reads / max(reconciles, 1):.1f}"),
        ("API calls per reconcile: writes", f"{writes / max(reconciles, 1):.2f}"),
        ("objects written during unchanged resync", f"{changed} of {result['objects']} (one resync period)"),
    ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    print(f"{'metric'.ljust(width)} | value")
    print(f"{'-' * width}-|-{'-' * 40}")
    for metric, value in rows:
        print(f"{metric.ljust(width)} | {value}")


if __name__ == "__main__":
    main()
