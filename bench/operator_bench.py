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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
from kubernetes import client

from chatfleet.controller import naming as n
from chatfleet.controller.crd import crd_manifest
from chatfleet.controller.kube import KubeClient
from chatfleet.devcluster.cluster import LocalCluster

KINDS = ["ServiceAccount", "ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler",
         "PodDisruptionBudget", "NetworkPolicy"]  # fmt: skip
RESYNC_SECONDS = 20


def app(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "chatfleet.dev/v1alpha1",
        "kind": "ChatApplication",
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


def managed_count(kube: KubeClient, namespace: str) -> int:
    selector = f"{n.MANAGED_BY}={n.FIELD_MANAGER}"
    return sum(len(kube.list(kind, namespace, selector)) for kind in KINDS)


def versions(kube: KubeClient, namespace: str) -> dict[tuple[str, str], str]:
    out = {}
    selector = f"{n.MANAGED_BY}={n.FIELD_MANAGER}"
    for kind in KINDS:
        for obj in kube.list(kind, namespace, selector):
            key = obj["metadata"]["generation" if kind == "Deployment" else "resourceVersion"]
            out[(kind, obj["metadata"]["name"])] = str(key)
    for obj in kube.list("ChatApplication", namespace):
        out[("ChatApplication", obj["metadata"]["name"])] = obj["metadata"]["resourceVersion"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=500)
    parser.add_argument("--latency-samples", type=int, default=20)
    args = parser.parse_args()

    with LocalCluster(nodes=0) as cluster:
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
            time.sleep(3)

            latencies = []
            for index in range(args.latency_samples):
                name = f"lat-{index:03d}"
                start = time.monotonic()
                kube.create(app(name, "bench-latency"))
                selector = f"{n.INSTANCE}={name}"
                wait(lambda s=selector: sum(len(kube.list(k, "bench-latency", s)) for k in KINDS) == 7, 60)
                latencies.append(time.monotonic() - start)

            start = time.monotonic()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda i: kube.create(app(f"app-{i:04d}", "bench-scale")), range(args.apps)))
            created = time.monotonic() - start

            def all_reconciled() -> bool:
                bodies = kube.list("ChatApplication", "bench-scale")
                done = sum(
                    1
                    for b in bodies
                    if b.get("status", {}).get("observedGeneration") == b["metadata"]["generation"]
                )
                return done == args.apps and managed_count(kube, "bench-scale") == 7 * args.apps

            wait(all_reconciled, 600, interval=0.5)
            reconciled = time.monotonic() - start
            peak_at_scale = sampler.peak

            time.sleep(5)
            before = versions(kube, "bench-scale")
            time.sleep(2 * RESYNC_SECONDS + 5)
            after = versions(kube, "bench-scale")
            changed = sum(1 for key, value in after.items() if before.get(key) != value)

            operator.terminate()
            operator.wait(timeout=60)
            sampler.stop.set()
        stats = re.search(r"operator stats: reconciles=(\d+) reads=(\d+) writes=(\d+)", log_path.read_text())
        reconciles, reads, writes = (int(g) for g in stats.groups()) if stats else (0, 0, 0)

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
        ("objects written during unchanged resync", f"{changed} of {len(after)} (2 resync periods)"),
    ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    print(f"{'metric'.ljust(width)} | value")
    print(f"{'-' * width}-|-{'-' * 40}")
    for metric, value in rows:
        print(f"{metric.ljust(width)} | {value}")


if __name__ == "__main__":
    main()
