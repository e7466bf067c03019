"""Fixtures shared by the service tiers: the real app served in a thread, and the admin client of whichever
real simulator a folder runs."""

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import httpx
import pytest

from chatfleet.chat.app import create_app
from chatfleet.chat.config import Settings
from chatfleet.chat.serving import bind, make_server
from chatfleet.chat.simulator.background import RunningSimulator


@contextmanager
def _serve_in_thread(settings: Settings) -> Iterator[tuple[str, Any]]:
    app = create_app(settings)
    server = make_server(app, shutdown_grace_s=5, drain_delay_s=0, log_level="WARNING")
    sock = bind("127.0.0.1", 0)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=run, name="chat-service", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if failure or not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"service did not start: {failure[0] if failure else 'timeout'}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", app
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


@pytest.fixture(scope="session")
def serve_app() -> Callable[[Settings], AbstractContextManager[tuple[str, Any]]]:
    """`with serve_app(settings) as (url, app):` the real app under uvicorn on 127.0.0.1:<free port>, in a
    thread with its own event loop; stopped (graceful shutdown) at the end of the block."""
    return _serve_in_thread


@pytest.fixture
def admin(simulator: RunningSimulator) -> Iterator[httpx.Client]:
    """The simulator's admin API (`simulator` is the folder's own fixture); faults, limits and counters are
    cleared after each test so one test's faults never leak into the next."""
    with httpx.Client(base_url=simulator.base_url, timeout=10) as client:
        yield client
        client.delete("/_sim/faults").raise_for_status()
        client.delete("/_sim/limits").raise_for_status()
        client.post("/_sim/reset").raise_for_status()
