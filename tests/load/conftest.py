"""Real processes on loopback for the load gate tests: the simulator, the chat service, `chatfleet loadtest`.

Everything runs as its own process (as in production, and because Locust patches the standard library
with gevent); every server binds port 0 on 127.0.0.1 and prints its URL, which is read from its stdout.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.processes import stop

LISTENING = re.compile(r"listening on (http://\S+)")
STARTUP_TIMEOUT_S = 180.0
DEPLOYMENTS = ("east", "west", "north")
SLO_PASSING = [
    "--slo-ttft-p95-ms",
    "3000",
    "--slo-error-rate-percent",
    "1",
    "--slo-min-tokens-per-second",
    "5",
]


@contextlib.contextmanager
def serving(command: list[str], env: dict[str, str] | None = None) -> Iterator[str]:
    """Starts a server process, yields the URL it announced, stops it (SIGTERM, then SIGKILL)."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    output: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        url = ""
        while not url:
            line = process.stdout.readline()
            output.append(line)
            if not line and process.poll() is not None:
                raise RuntimeError(f"{command[3:5]} exited {process.returncode}:\n{''.join(output)[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[3:5]} did not start:\n{''.join(output)[-3000:]}")
            if match := LISTENING.search(line):
                url = match.group(1)
        threading.Thread(target=lambda: output.extend(process.stdout), daemon=True).start()  # type: ignore[arg-type]
        _wait_ready(url)
        yield url
    finally:
        stop(process, 15, 5)


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/readyz", timeout=5).status_code in (200, 404):
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} never became ready")


def simulator_command(*flags: str) -> list[str]:
    deployment_flags = [arg for name in DEPLOYMENTS for arg in ("--deployment", name)]
    return [
        sys.executable,
        "-m",
        "chatfleet",
        "simulator",
        "--port",
        "0",
        "--no-auth",
        *deployment_flags,
        *flags,
    ]


def service_env(
    simulator_url: str, deployments: tuple[str, ...] = DEPLOYMENTS, **settings: str
) -> dict[str, str]:
    """Dev-mode service whose router pool is the simulator's deployments, equally preferred."""
    pool = [
        {"name": name, "endpoint": simulator_url, "deployment": name, "apiKey": "local-simulator"}
        for name in deployments
    ]
    # No per-tenant token budget: these runs test the gate, and the module's runs add up within a minute.
    env = {"CHATFLEET_TENANT_TOKENS_PER_MINUTE": "0"}
    env.update({f"CHATFLEET_{key.upper()}": value for key, value in settings.items()})
    return {"CHATFLEET_OPENAI_DEPLOYMENTS": json.dumps(pool), **env}


def service_command(*extra: str) -> list[str]:
    return [sys.executable, "-m", "chatfleet", "serve", "--port", "0", "--dev", *extra]


@dataclass
class LoadRun:
    code: int
    stdout: str
    summary: dict[str, Any]
    termination: dict[str, Any]


def run_loadtest(tmp_path: Path, host: str, *args: str, timeout_s: float = 180) -> LoadRun:
    """`chatfleet loadtest` as a process, like the operator's Job runs it."""
    summary_file, message_file = tmp_path / "summary.json", tmp_path / "termination-log"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "chatfleet",
            "loadtest",
            "--host",
            host,
            *args,
            "--json",
            str(summary_file),
            "--termination-message",
            str(message_file),
        ],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert summary_file.exists(), completed.stderr[-3000:]
    return LoadRun(
        completed.returncode,
        completed.stdout,
        json.loads(summary_file.read_text()),
        json.loads(message_file.read_text()),
    )


@dataclass
class SimulatorAdmin:
    """The simulator's run-time controls (`/_sim`), for tests that slow it down or read its counters."""

    url: str

    def set_faults(self, faults: dict[str, Any], deployment: str | None = None) -> None:
        path = "/_sim/faults" + (f"/{deployment}" if deployment else "")
        httpx.put(self.url + path, json=faults, timeout=5).raise_for_status()

    def clear_faults(self) -> None:
        httpx.delete(self.url + "/_sim/faults", timeout=5).raise_for_status()

    def deployments(self) -> dict[str, Any]:
        return httpx.get(self.url + "/_sim/state", timeout=5).json()["deployments"]


@pytest.fixture
def loadtest(tmp_path: Path) -> Any:
    """`loadtest(host, *args)` runs `chatfleet loadtest` and returns its exit code and both summaries."""
    return lambda host, *args, timeout_s=180: run_loadtest(tmp_path, host, *args, timeout_s=timeout_s)


@pytest.fixture
def passing_slo() -> list[str]:
    return list(SLO_PASSING)


@pytest.fixture
def upstream_names() -> tuple[str, ...]:
    return DEPLOYMENTS


@pytest.fixture(scope="module")
def simulator() -> Iterator[str]:
    """A fast simulator: answers in ~50 ms + 400 tokens/s, so a few seconds give dozens of answers."""
    with serving(simulator_command("--ttft-ms", "50", "--tokens-per-second", "400")) as url:
        yield url


@pytest.fixture(scope="module")
def simulator_admin(simulator: str) -> SimulatorAdmin:
    return SimulatorAdmin(simulator)


def warm_up(chat_url: str) -> None:
    """One answer per tenant, so lazy start-up work (models, index) is not measured as the first TTFTs."""
    for tenant in ("contoso", "fabrikam"):
        body = {"messages": [{"role": "user", "content": "How do I reset my password?"}]}
        headers = {"X-Chatfleet-Tenant": tenant}
        httpx.post(f"{chat_url}/chat/stream", json=body, headers=headers, timeout=60).raise_for_status()


@pytest.fixture(scope="module")
def chat_service(simulator: str) -> Iterator[str]:
    with serving(service_command(), service_env(simulator)) as url:
        warm_up(url)
        yield url


class Processes:
    """The process starters, for tests that need a simulator and service of their own."""

    serving = staticmethod(serving)
    warm_up = staticmethod(warm_up)
    simulator_command = staticmethod(simulator_command)
    service_command = staticmethod(service_command)
    service_env = staticmethod(service_env)


@pytest.fixture
def processes() -> Processes:
    return Processes()
