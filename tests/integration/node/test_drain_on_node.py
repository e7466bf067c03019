"""A chat pod deleted while it streams answers: every open stream through the app's Service still ends with
its closing line, because the real kubelet runs the rendered preStop sleep (the EndpointSlice drops the pod
first) and then SIGTERM, on which the service stops accepting and lets open answers finish.

The answers come from the in-cluster simulator slowed to a few tokens a second, so each stream outlives the
preStop sleep and the SIGTERM; the users' tokens from an HTTPS issuer the pods trust through
spec.trustBundle, the pods' own from the node's identity endpoint (conftest.pod_identity).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from chatfleet.controller import naming as n
from chatfleet.controller.render import PRESTOP_SLEEP_SECONDS
from chatfleet.devcluster.cluster import LocalCluster
from tests.helpers.waiting import eventually

from .conftest import (
    NodeImages,
    PodIssuer,
    chat_app,
    create_app,
    deploy_simulator,
    namespace_report,
    new_namespace,
    ready_pods,
)

pytestmark = pytest.mark.timeout(900)

QUESTIONS = [
    "How long is parental leave?",
    "How do I fix VPN error GP-4012?",
    "What is the hotel limit in London?",
    "How do I reset my password?",
    "When is my laptop refreshed?",
    "How do I request software?",
]


@dataclass
class Stream:
    """One user's answer as the client read it, line by line."""

    question: str
    lines: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    ended_at: float = 0.0
    started: threading.Event = field(default_factory=threading.Event)

    def run(self, url: str, token: str) -> None:
        body = {"messages": [{"role": "user", "content": self.question}]}
        headers = {"Authorization": f"Bearer {token}"}
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(10, read=60)) as http,
                http.stream("POST", f"{url}/chat/stream", json=body, headers=headers) as response,
            ):
                if response.status_code != 200:
                    self.error = f"{response.status_code}: {response.read()[:300]!r}"
                    return
                for line in response.iter_lines():
                    if line:
                        self.lines.append(json.loads(line))
                        if len(self.lines) >= 2:  # context, then the first answer text
                            self.started.set()
        except httpx.HTTPError as error:
            self.error = f"{type(error).__name__}: {error}"
        finally:
            self.ended_at = time.monotonic()
            self.started.set()

    @property
    def closed(self) -> bool:
        """The protocol's closing line (the Answer thought) arrived, and no error line."""
        if not self.lines or "error" in self.lines[-1]:
            return False
        thoughts = (self.lines[-1].get("context") or {}).get("thoughts") or [{}]
        return bool(thoughts[0].get("title") == "Answer")


def inflight(pod_ip: str) -> float:
    """The pod's own count of answers being generated (its metrics port, straight to the pod IP)."""
    text = httpx.get(f"http://{pod_ip}:{n.METRICS_PORT}{n.METRICS_PATH}", timeout=5).text
    for family in text_string_to_metric_families(text):
        if family.name == "chatfleet_inflight_streams":
            return float(family.samples[0].value)
    raise AssertionError("chatfleet_inflight_streams missing from the pod's metrics")


def test_a_pod_deleted_during_streams_finishes_every_stream(
    real_cluster: LocalCluster,
    images: NodeImages,
    operator: Any,
    pod_issuer: PodIssuer,
    pod_identity: list[str],
) -> None:
    api = real_cluster.api_client()
    core = client.CoreV1Api(api)
    namespace = new_namespace(api, pod_issuer)
    try:
        simulator = deploy_simulator(
            api, namespace, images.chat, "--ttft-ms", "300", "--tokens-per-second", "5"
        )
        create_app(api, chat_app("drain", namespace, images.chat, pod_issuer, simulator))
        selector = ",".join(f"{k}={v}" for k, v in n.selector("drain", "stable").items())
        pods = ready_pods(api, namespace, selector, 2, timeout=600)
        service = core.read_namespaced_service("drain", namespace)
        url = f"http://{service.spec.cluster_ip}:{service.spec.ports[0].port}"

        token = pod_issuer.tokens.token()
        # One answer from each pod first (straight to its IP): its connections to the simulator and the
        # issuer's keys are then in place, so the streams below measure the drain, not a cold start.
        for pod in pods:
            warm = httpx.post(
                f"http://{pod.status.pod_ip}:{n.CHAT_PORT}/chat",
                json={"messages": [{"role": "user", "content": QUESTIONS[0]}]},
                headers={"Authorization": f"Bearer {token}"},
                timeout=120,
            )
            assert warm.status_code == 200, f"{warm.text}\n{namespace_report(real_cluster, namespace)}"
        streams = [Stream(q) for q in QUESTIONS]
        threads = [threading.Thread(target=s.run, args=(url, token), daemon=True) for s in streams]
        for thread in threads:
            thread.start()
        for stream in streams:
            assert stream.started.wait(60), f"no answer text for {stream.question!r}"
        assert pod_identity, "the pods' calls carried no token from the identity endpoint"
        errors = [s.error for s in streams if s.error]
        assert not errors, f"{errors}\n{namespace_report(real_cluster, namespace)}"

        counts = {pod.metadata.name: inflight(pod.status.pod_ip) for pod in pods}
        victim = max(pods, key=lambda pod: counts[pod.metadata.name])
        assert counts[victim.metadata.name] >= 1, counts
        core.delete_namespaced_pod(victim.metadata.name, namespace)  # the rendered grace period
        deleted_at = time.monotonic()

        # While the victim drains: it keeps streaming after SIGTERM, and new requests land on the other pod.
        seen: list[tuple[float, float]] = []
        refused: list[str] = []
        while any(thread.is_alive() for thread in threads):
            with contextlib.suppress(httpx.HTTPError):  # the container has exited
                seen.append((time.monotonic() - deleted_at, inflight(victim.status.pod_ip)))
            try:
                status = httpx.get(f"{url}/readyz", timeout=5).status_code
                if status != 200:
                    refused.append(str(status))
            except httpx.HTTPError as error:
                refused.append(type(error).__name__)
            time.sleep(0.5)
        for thread in threads:
            thread.join(5)

        unfinished = [(s.question, s.error, s.lines[-1:]) for s in streams if not s.closed]
        assert unfinished == [], f"{unfinished}\n{namespace_report(real_cluster, namespace)}"
        after_sigterm = [count for at, count in seen if at > PRESTOP_SLEEP_SECONDS + 1]
        assert any(count >= 1 for count in after_sigterm), f"victim in-flight streams over time: {seen}"
        assert refused == [], f"new requests during the drain: {refused}"

        def gone() -> bool:
            names = [
                p.metadata.name for p in core.list_namespaced_pod(namespace, label_selector=selector).items
            ]
            return victim.metadata.name not in names

        eventually(gone, 60, "the deleted pod is gone")
        ready_pods(api, namespace, selector, 2, timeout=300)  # its replacement serves
    finally:
        core.delete_namespace(namespace)
