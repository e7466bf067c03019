"""Runs the gate as local processes (the local stack has no kubelet): `chatfleet loadtest` and, when
`spec.rollout.evaluation` is set, `chatfleet eval run` beside it against the same candidate.

The target is a chat service on loopback named by the resource's `chatfleet.dev/loadtest-host`
annotation or CHATFLEET_OPERATOR_LOCAL_GATE_HOST, so one person sees the whole gate on one machine.
An eval set or the app's conversations from a ConfigMap are read once at start and written to the run's
directory. Runs live in this
process only: after an operator restart a still-Testing gate simply starts again.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from chatfleet.contracts.evaluation import EXIT_NO_VERDICT
from chatfleet.controller.rollout.evaluation import SAMPLE_SET, EvalVerdict, eval_verdict
from chatfleet.controller.rollout.runner import CONVERSATIONS_FILE, GateRun
from chatfleet.controller.rollout.verdict import (
    GateVerdict,
    parse_summary,
    verdict_from_exit,
    with_evaluation,
)

# (namespace, name) -> the ConfigMap object, or None when it does not exist
ReadConfigMap = Callable[[str, str], dict[str, Any] | None]


@dataclass
class _Process:
    popen: subprocess.Popen[bytes]
    workdir: Path
    log: BinaryIO
    evaluation: subprocess.Popen[bytes] | None = None
    eval_log: BinaryIO | None = None
    eval_error: str | None = None  # the eval could not start (its set is missing): fails the gate


class LocalProcessRunner:
    """GateRunner on local subprocesses."""

    def __init__(self, python: str = sys.executable, read_config_map: ReadConfigMap | None = None) -> None:
        self._python = python
        self._read_config_map = read_config_map
        self._runs: dict[str, _Process] = {}
        self._lock = threading.Lock()

    def start(self, run: GateRun) -> None:
        key = f"{run.namespace}/{run.name}"
        with self._lock:
            if key in self._runs:
                return
            workdir = Path(tempfile.mkdtemp(prefix=f"chatfleet-gate-{run.name}-"))
            args = run.loadtest_args(
                str(workdir / "summary.json"),
                str(workdir / "termination-message"),
                self.conversations_file(run, workdir),
            )
            log = (workdir / "loadtest.log").open("wb")
            popen = self._spawn(args, log, workdir)
            process = _Process(popen, workdir, log)
            if run.evaluation is not None:
                self._start_evaluation(run, process)
            self._runs[key] = process

    def _spawn(self, args: list[str], log: BinaryIO, workdir: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [self._python, "-m", "chatfleet", *args], stdout=log, stderr=subprocess.STDOUT, cwd=workdir
        )

    def conversations_file(self, run: GateRun, workdir: Path) -> str | None:
        """The app's conversations written to the run's directory; a missing ConfigMap or key leaves the
        file absent, so `chatfleet loadtest` fails with its one-line error (like the Job's optional mount)."""
        source = run.load_test.conversations
        if source is None:
            return None
        path = workdir / CONVERSATIONS_FILE
        config_map = (
            self._read_config_map(run.namespace, source.config_map_ref) if self._read_config_map else None
        )
        text = ((config_map or {}).get("data") or {}).get(source.key)
        if text is not None:
            path.write_text(text, encoding="utf-8")
        return str(path)

    def eval_set_file(self, run: GateRun, workdir: Path) -> str:
        """Path (or `sample`) of the eval set; raises LookupError naming what is missing."""
        assert run.evaluation is not None
        source = run.evaluation.eval_set
        if source.sample or source.config_map_ref is None:
            return SAMPLE_SET
        config_map = (
            self._read_config_map(run.namespace, source.config_map_ref) if self._read_config_map else None
        )
        if config_map is None:
            raise LookupError(f"eval set ConfigMap {run.namespace}/{source.config_map_ref} not found")
        text = (config_map.get("data") or {}).get(source.key)
        if text is None:
            raise LookupError(f"eval set ConfigMap {source.config_map_ref} has no key {source.key!r}")
        path = workdir / "eval-set.jsonl"
        path.write_text(text, encoding="utf-8")
        return str(path)

    def _start_evaluation(self, run: GateRun, process: _Process) -> None:
        workdir = process.workdir
        try:
            set_file = self.eval_set_file(run, workdir)
        except LookupError as error:
            process.eval_error = str(error)
            return
        args = run.evaluation_args(
            set_file, str(workdir / "eval-termination-message"), str(workdir / "eval.json")
        )
        process.eval_log = (workdir / "eval.log").open("wb")
        process.evaluation = self._spawn(args, process.eval_log, workdir)

    def poll(self, run: GateRun) -> GateVerdict | None:
        key = f"{run.namespace}/{run.name}"
        with self._lock:
            process = self._runs.get(key)
        if process is None:
            self.start(run)
            return None
        exit_code = process.popen.poll()
        eval_exit = process.evaluation.poll() if process.evaluation is not None else None
        if exit_code is None or (process.evaluation is not None and eval_exit is None):
            return None  # the gate decides on both results
        summary_file = process.workdir / "summary.json"
        message_file = process.workdir / "termination-message"
        text = summary_file.read_text() if summary_file.exists() else None
        if text is None and message_file.exists():
            text = message_file.read_text()
        load_test = verdict_from_exit(exit_code, parse_summary(text), run.target)
        return with_evaluation(load_test, self._evaluation_verdict(run, process, eval_exit))

    def _evaluation_verdict(
        self, run: GateRun, process: _Process, exit_code: int | None
    ) -> EvalVerdict | None:
        if run.evaluation is None:
            return None
        if process.eval_error is not None:
            return eval_verdict(EXIT_NO_VERDICT, f"error: {process.eval_error}", run.target)
        message_file = process.workdir / "eval-termination-message"
        text = message_file.read_text() if message_file.exists() else None
        if text is None:  # no verdict written (usage error): the CLI's `error:` line is in its log
            text = (process.workdir / "eval.log").read_text(errors="replace")[-4096:]
        return eval_verdict(exit_code, text, run.target)

    def cancel(self, run_name: str, namespace: str) -> None:
        with self._lock:
            process = self._runs.pop(f"{namespace}/{run_name}", None)
        if process is None:
            return
        for popen in (process.popen, process.evaluation):
            if popen is None or popen.poll() is not None:
                continue
            popen.terminate()
            try:
                popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()
        process.log.close()
        if process.eval_log is not None:
            process.eval_log.close()
        shutil.rmtree(process.workdir, ignore_errors=True)

    def close(self) -> None:
        """Stops every run (operator shutdown)."""
        for key in list(self._runs):
            namespace, name = key.split("/", 1)
            self.cancel(name, namespace)
