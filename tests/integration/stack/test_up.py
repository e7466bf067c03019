"""`chatfleet up`, the README's main job, end to end: it comes up, serves a cited answer, the sample app
reaches Ready with LoadTestPassed through the gate, and Ctrl-C leaves no process of it behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil

from chatfleet.paths import REPO_ROOT
from tests.helpers.net import free_port

UP_TIMEOUT_S = 420



def _descendants(pid: int) -> set[int]:
    try:
        return {child.pid for child in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def test_up_serves_cited_answers_passes_the_gate_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "chatfleet", "up", "--port", str(port), "--workdir", str(tmp_path / "up")],
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

        # the chat service it printed answers with citations among its data points
        base = f"http://127.0.0.1:{port}"
        assert f"chat UI:     {base}/" in output
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

    assert process.returncode == 0, "".join(lines[-40:])
    assert "every process of the stack has exited" in "".join(lines)
    assert started, "the stack started no process"
    survivors = [
        pid for pid in started if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
    ]
    assert survivors == [], f"processes left behind: {survivors}"
