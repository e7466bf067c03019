"""`chatfleet serve` as a child process on a free loopback port, for tests that need the real command (its
start-up, its built-in simulator and sample index, its settings from the environment)."""

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from chatfleet.paths import REPO_ROOT

LISTENING = re.compile(r"listening on (http://\S+)")


@dataclass
class ServiceProcess:
    """A `chatfleet serve` child; its output is drained by a thread (a full pipe would stall the server)."""

    proc: subprocess.Popen[str]
    url: str
    output: list[str]

    def log(self) -> str:
        return "".join(self.output[-60:])


@contextmanager
def serve_subprocess(env: dict[str, str], *args: str, port: int = 0) -> Iterator[ServiceProcess]:
    """`chatfleet serve --port <port> ...` (0: any free port) as a child process; always stopped."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHATFLEET_")}
    clean.update(env)
    clean["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatfleet", "serve", "--port", str(port), *args],
        env=clean,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    started = threading.Event()
    url: list[str] = []

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if not url and (match := LISTENING.search(line)):
                url.append(match.group(1))
                started.set()
        started.set()

    threading.Thread(target=drain, name="serve-output", daemon=True).start()
    try:
        started.wait(60)
        if not url:
            proc.kill()
            proc.wait(10)
            raise RuntimeError("chatfleet serve did not start:\n" + "".join(output[-40:]))
        yield ServiceProcess(proc, url[0], output)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
