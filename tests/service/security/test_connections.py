"""Slow and silent clients against the real `chatfleet serve` (subprocess, short limits): every such
connection is closed within the configured limits, while an answer that streams for longer than all of
them still arrives whole. Plus the cap on open connections and the metrics port."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from chatfleet.paths import REPO_ROOT
from tests.helpers.processes import stop

pytestmark = pytest.mark.service

HEADER_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 1.5
KEEP_ALIVE_S = 1.0
MAX_CONNECTIONS = 40
SLOW_ANSWER_TTFT_MS = 4000  # the built-in simulator's first token: longer than every limit above
SLOW_SIMULATOR = ("--simulator-ttft-ms", str(SLOW_ANSWER_TTFT_MS))
MARGIN_S = 1.5  # event-loop and machine noise on a shared box
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")
METRICS = re.compile(r"metrics on http://127\.0\.0\.1:(\d+)/metrics")


@dataclass
class Served:
    port: int
    metrics_port: int
    output: list[str]


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATFLEET_")}
    env |= {
        "PYTHONUNBUFFERED": "1",
        "CHATFLEET_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
        "CHATFLEET_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        "CHATFLEET_KEEP_ALIVE_S": str(KEEP_ALIVE_S),
        "CHATFLEET_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
        "CHATFLEET_METRICS_PORT": "0",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatfleet", "serve", "--dev", "--port", "0", *SLOW_SIMULATOR],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    started = threading.Event()

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if LISTENING.search(line):
                started.set()
        started.set()

    threading.Thread(target=drain, daemon=True).start()
    try:
        started.wait(120)
        text = "".join(output)
        port, metrics = LISTENING.search(text), METRICS.search(text)
        assert port and metrics, f"chatfleet serve did not start:\n{text[-3000:]}"
        yield Served(int(port.group(1)), int(metrics.group(1)), output)
    finally:
        stop(proc, 10, 10)


async def _closed_after(
    port: int, first: bytes, then: Callable[[int], bytes | None], interval_s: float = 0.25
) -> float:
    """Connects, sends `first`, then `then(i)` every interval (None: nothing) until the server closes the
    connection; returns the seconds that took (or a large number when it never happened)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    t0 = time.monotonic()
    try:
        if first:
            writer.write(first)
        i = 0
        while time.monotonic() - t0 < 30:
            try:
                data = await asyncio.wait_for(reader.read(65536), interval_s)
            except TimeoutError:
                data = None
            if data == b"":
                return time.monotonic() - t0
            more = then(i)
            i += 1
            if more:
                writer.write(more)
                await writer.drain()
        return float("inf")
    except (ConnectionResetError, BrokenPipeError):
        return time.monotonic() - t0
    finally:
        writer.close()


def _idle(i: int) -> None:
    return None


def _trickled_headers(i: int) -> bytes:
    return f"X-Slow-{i}: {i}\r\n".encode()


def _trickled_body(i: int) -> bytes:
    return b"x"


async def _slow_answer(port: int) -> tuple[int, float, list[str]]:
    question = {"messages": [{"role": "user", "content": "How do I reset my password?"}]}
    t0 = time.monotonic()
    async with (
        httpx.AsyncClient(timeout=60) as client,
        client.stream(
            "POST",
            f"http://127.0.0.1:{port}/chat/stream",
            json=question,
            headers={"X-Chatfleet-Tenant": "contoso"},
        ) as response,
    ):
        lines = [line async for line in response.aiter_lines() if line]
    return response.status_code, time.monotonic() - t0, lines


async def test_slow_and_silent_clients_are_closed_while_long_streams_finish(served: Served) -> None:
    port = served.port
    head = b"POST /chat HTTP/1.1\r\nHost: x\r\n"
    body_head = (
        b"POST /chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n"
        b"X-Chatfleet-Tenant: contoso\r\n\r\n{"
    )
    attacks: dict[str, list[Awaitable[float]]] = {
        "idle after connect": [_closed_after(port, b"", _idle) for _ in range(10)],
        "trickled headers": [_closed_after(port, head, _trickled_headers) for _ in range(10)],
        "trickled body": [_closed_after(port, body_head, _trickled_body) for _ in range(10)],
        "idle keep-alive": [
            _closed_after(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", _idle) for _ in range(3)
        ],
    }
    answer = asyncio.ensure_future(_slow_answer(port))
    results = {name: await asyncio.gather(*tasks) for name, tasks in attacks.items()}
    limits = {
        "idle after connect": HEADER_TIMEOUT_S,
        "trickled headers": HEADER_TIMEOUT_S,
        "trickled body": BODY_TIMEOUT_S,
        "idle keep-alive": KEEP_ALIVE_S,
    }
    for name, seconds in results.items():
        assert all(limits[name] - 0.3 <= s <= limits[name] + MARGIN_S for s in seconds), (name, seconds)
    status, took, lines = await answer
    assert status == 200
    assert took > max(limits.values()) + 1, "the answer must outlast every read limit"
    assert "error" not in json.loads(lines[-1]) and any("delta" in line for line in lines)


async def test_oversized_header_block_is_a_431(served: Served) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    for i in range(100):
        writer.write(f"X-Pad-{i}: {'a' * 1000}\r\n".encode())
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 ")
    assert json.loads(body)["type"] == "https://chatfleet.dev/problems/header-too-large"


async def test_connections_over_the_cap_get_503(served: Served) -> None:
    held = [await asyncio.open_connection("127.0.0.1", served.port) for _ in range(MAX_CONNECTIONS)]
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            over = await client.get(f"http://127.0.0.1:{served.port}/healthz")
    finally:
        for _, writer in held:
            writer.close()
    assert over.status_code == 503
    await asyncio.sleep(HEADER_TIMEOUT_S + 0.5)  # the held sockets are gone (closed by us or the server)
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(f"http://127.0.0.1:{served.port}/healthz")).status_code == 200


async def test_metrics_only_on_the_metrics_port(served: Served) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        user = await client.get(f"http://127.0.0.1:{served.port}/metrics")
        scraped = await client.get(f"http://127.0.0.1:{served.metrics_port}/metrics")
    assert user.status_code == 404 and user.headers["content-type"] == "application/problem+json"
    assert scraped.status_code == 200
    assert "chatfleet_inflight_streams" in scraped.text and "chatfleet_upstream" in scraped.text
