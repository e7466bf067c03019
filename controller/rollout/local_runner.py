"""Runs the gate's load test as a local `chatfleet loadtest` process (the local stack has no kubelet).

The target is a chat service on loopback named by the resource's `chatfleet.dev/loadtest-host`
annotation or CHATFLEET_OPERATOR_LOCAL_GATE_HOST, so one person sees the whole gate on one machine.
Runs live in this process only: after an operator restart a still-Testing gate simply starts again.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from chatfleet.controller.rollout.runner import GateRun
from chatfleet.controller.rollout.verdict import GateVerdict, parse_summary, verdict_from_exit


@dataclass
class _Process:
    popen: subprocess.Popen[bytes]
    workdir: Path
    log: BinaryIO


class LocalProcessRunner:
    """GateRunner on local subprocesses."""

    def __init__(self, python: str = sys.executable) -> None:
        self._python = python
        self._runs: dict[str, _Process] = {}
        self._lock = threading.Lock()

    def start(self, run: GateRun) -> None:
        key = f"{run.namespace}/{run.name}"
        with self._lock:
            if key in self._runs:
                return
            workdir = Path(tempfile.mkdtemp(prefix=f"chatfleet-gate-{run.name}-"))
            args = run.loadtest_args(str(workdir / "summary.json"), str(workdir / "termination-message"))
            log = (workdir / "loadtest.log").open("wb")
            popen = subprocess.Popen(
                [self._python, "-m", "chatfleet", *args], stdout=log, stderr=subprocess.STDOUT, cwd=workdir
            )
            self._runs[key] = _Process(popen, workdir, log)

    def poll(self, run: GateRun) -> GateVerdict | None:
        key = f"{run.namespace}/{run.name}"
        with self._lock:
            process = self._runs.get(key)
        if process is None:
            self.start(run)
            return None
        exit_code = process.popen.poll()
        if exit_code is None:
            return None
        summary_file = process.workdir / "summary.json"
        message_file = process.workdir / "termination-message"
        text = summary_file.read_text() if summary_file.exists() else None
        if text is None and message_file.exists():
            text = message_file.read_text()
        return verdict_from_exit(exit_code, parse_summary(text), run.target)

    def cancel(self, run_name: str, namespace: str) -> None:
        with self._lock:
            process = self._runs.pop(f"{namespace}/{run_name}", None)
        if process is None:
            return
        if process.popen.poll() is None:
            process.popen.terminate()
            try:
                process.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait()
        process.log.close()
        shutil.rmtree(process.workdir, ignore_errors=True)

    def close(self) -> None:
        """Stops every run (operator shutdown)."""
        for key in list(self._runs):
            namespace, name = key.split("/", 1)
            self.cancel(name, namespace)
