"""The browser tests drive Debian's Chromium (headless) against `chatfleet serve` run as a real subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from chatfleet.paths import REPO_ROOT
from tests.helpers.processes import stop

LISTENING = re.compile(r"chat service listening on (http://\S+)")


@pytest.fixture(scope="session")
def chat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`chatfleet serve` with nothing configured: dev mode, sample corpus index, its own simulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATFLEET_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chatfleet",
            "serve",
            "--port",
            "0",
            "--simulator-ttft-ms",
            "100",
            "--simulator-tokens-per-second",
            "40",
        ],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        url = None
        output = []
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            if match := LISTENING.search(line):
                url = match.group(1)
        if url is None:
            raise RuntimeError("chatfleet serve did not start:\n" + "".join(output[-40:]))
        yield url
    finally:
        stop(proc, 20, 10)
