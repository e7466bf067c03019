"""`chatfleet up`, the README's main job, end to end: it comes up, serves a cited answer, the sample app
reaches Ready with LoadTestPassed through the gate, and Ctrl-C leaves no process of it behind.

Both modes: the default on the real node (every part a pod: the chat UI is the app's Service, the gate a Job
against the canary Service) and the fast mode `--fake-nodes` (KWOK, the chat service on loopback)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from chatfleet.paths import REPO_ROOT
from tests.helpers.net import free_port

UP_TIMEOUT_S = 900  # the real node: image builds are cached by the node tier; pods, gate Job, promotion


def _assert_everything_runs_in_the_cluster(output: str, up_pid: int) -> None:
    """The operator (Helm release), the simulator, the chat pods and the gate's Job are pods of the images
    built here; no chat service or operator runs as a process of `chatfleet up` itself."""
    from kubernetes import client, config

    kubeconfig = re.search(r"export KUBECONFIG=(\S+)", output)
    assert kubeconfig, output
    api = config.new_client_from_config(config_file=kubeconfig[1])
    core = client.CoreV1Api(api)

    def images(namespace: str, selector: str) -> set[str]:
        pods = core.list_namespaced_pod(namespace, label_selector=selector).items
        assert pods, f"no pod in {namespace} with {selector}"
        return {c.image for p in pods for c in p.spec.containers}

    (operator,) = images("chatfleet-system", "app.kubernetes.io/component=operator")
    assert operator.startswith("chatfleet.local/chatfleet/operator:")
    (simulator,) = images("chatfleet-system", "app.kubernetes.io/name=chatfleet-simulator")
    assert simulator.startswith("chatfleet.local/chatfleet/chat:")
    # Ready once the promoted revision is available; the previous revision's pods may still be terminating.
    chat = "app.kubernetes.io/instance=support-bot,app.kubernetes.io/component=chat"
    deadline = time.monotonic() + 120
    while images("default", chat) != {"chatfleet.local/chatfleet/chat:0.1.1"} and time.monotonic() < deadline:
        time.sleep(2)
    assert images("default", chat) == {"chatfleet.local/chatfleet/chat:0.1.1"}, "the promoted release serves"
    # The gate's Job is deleted once its verdict is read; its Events stay: completed, from the loadtest image.
    events = [
        e
        for e in core.list_namespaced_event("default").items
        if e.involved_object.name.startswith("support-bot-gate-")
    ]
    assert any(e.involved_object.kind == "Job" and e.reason == "Completed" for e in events), events
    pulled = {e.message for e in events if e.reason == "Pulled"}
    assert pulled and all("chatfleet.local/chatfleet/loadtest:" in m for m in pulled), pulled
    # What `up` spawns itself (its direct children) is the control plane and the node, nothing of the app.
    commands = []
    for child in psutil.Process(up_pid).children():
        with contextlib.suppress(psutil.NoSuchProcess):
            commands.append(" ".join(child.cmdline()))
    assert commands and not [c for c in commands if " -m chatfleet " in f"{c} "], commands


def _assert_monitoring_scrapes_the_app(output: str) -> None:
    """With --monitoring, Prometheus scrapes the app's chat pods as the chart's ServiceMonitor says and
    prometheus-adapter is registered as custom.metrics.k8s.io (the scaling itself: the node tier's
    test_autoscaling_on_node; a freshly promoted app has no TTFT series until users ask)."""
    from kubernetes import client, config

    prometheus = re.search(r"prometheus:  (http://127\.0\.0\.1:[0-9]+)", output)
    assert prometheus, output
    kubeconfig = re.search(r"export KUBECONFIG=(\S+)", output)
    assert kubeconfig, output
    registration = client.ApiregistrationV1Api(config.new_client_from_config(config_file=kubeconfig[1]))
    service = registration.read_api_service("v1beta2.custom.metrics.k8s.io")
    available = [c for c in service.status.conditions if c.type == "Available" and c.status == "True"]
    assert available, service.status
    deadline = time.monotonic() + 120  # the ServiceMonitor's scrape interval
    while time.monotonic() < deadline:
        targets = httpx.get(f"{prometheus[1]}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
        if any(t["health"] == "up" and t["labels"].get("namespace") == "default" for t in targets):
            return
        time.sleep(3)
    raise AssertionError(f"Prometheus scraped no chat pod of the app: {targets}")


def _descendants(pid: int) -> set[int]:
    try:
        return {child.pid for child in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


@pytest.mark.timeout(UP_TIMEOUT_S + 120)
@pytest.mark.parametrize("mode", ["real-node", "fake-nodes"])
def test_up_serves_cited_answers_passes_the_gate_and_stops_cleanly(mode: str) -> None:
    port = free_port()
    options = ["--fake-nodes", "--port", str(port)] if mode == "fake-nodes" else ["--monitoring"]
    # Short: the kubelet's unix sockets live under the workdir (108-byte limit), pytest's tmp_path is long.
    workdir = Path(tempfile.mkdtemp(prefix="cf-up-", dir="/tmp")) / "up"
    process = subprocess.Popen(
        [sys.executable, "-m", "chatfleet", "up", *options, "--workdir", str(workdir)],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    up = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                up.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started: set[int] = set()
    try:
        deadline = time.monotonic() + UP_TIMEOUT_S
        while not up.wait(1.0):
            started |= _descendants(process.pid)
            assert process.poll() is None, "".join(lines[-40:])
            assert time.monotonic() < deadline, "".join(lines[-40:])
        started |= _descendants(process.pid)
        output = "".join(lines)

        # kubectl get chatapp, as printed: Ready, LoadTestPassed and EvaluationPassed are True after the gate
        header, row = (
            line.split() for line in output.split("$ kubectl get chatapp -n default\n")[1].splitlines()[:2]
        )
        assert header[:5] == ["NAME", "READY", "REPLICAS", "TTFT", "P95"]
        names = ["NAME", "READY", "REPLICAS", "TTFT P95", "LOADTEST", "QUALITY", "REVISION"]
        columns = dict(zip(names, row[:7], strict=True))
        assert columns["NAME"] == "support-bot"
        assert columns["READY"] == "True"
        assert columns["LOADTEST"] == "True"
        assert columns["QUALITY"] == "True", "the release passed the quality gate too"
        assert float(columns["TTFT P95"]) > 0

        # the chat service it printed answers with citations among its data points: on the real node the
        # app's Service (a ClusterIP the host reaches through kube-proxy), in the fast mode a loopback process
        found = re.search(r"chat UI:     (http://[0-9.]+:[0-9]+)/", output)
        assert found, output
        base = found[1]
        if mode == "fake-nodes":
            assert base == f"http://127.0.0.1:{port}"
        else:
            assert re.fullmatch(r"http://10\.0\.0\.[0-9]+:8000", base), base
            _assert_everything_runs_in_the_cluster(output, process.pid)
            _assert_monitoring_scrapes_the_app(output)
        reply = httpx.post(
            f"{base}/chat",
            json={"messages": [{"role": "user", "content": "How do I reset my password?"}]},
            headers={"X-Chatfleet-Tenant": "contoso"},
            timeout=60,
        )
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["message"]["role"] == "assistant"
        assert body["context"]["data_points"], json.dumps(body)[:500]
        assert "[" in body["message"]["content"] and "]" in body["message"]["content"]
        page = httpx.get(f"{base}/", timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower()
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
        reader.join(timeout=5)
        shutil.rmtree(workdir.parent, ignore_errors=True)

    assert process.returncode == 0, "".join(lines[-40:])
    assert "every process of the stack has exited" in "".join(lines)
    assert started, "the stack started no process"
    survivors = [
        pid for pid in started if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
    ]
    assert survivors == [], f"processes left behind: {survivors}"
