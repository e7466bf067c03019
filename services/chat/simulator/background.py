"""Running the simulator next to other code: in a thread (tests, sync callers) or as a task in the
caller's event loop (`chatfleet serve` starting its own upstream). Always on a port the OS picks by default,
so parallel test runs never collide.
"""

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from chatfleet.chat.serving import LISTEN_BACKLOG, bind
from chatfleet.chat.simulator.config import SimulatorConfig
from chatfleet.chat.simulator.server import build_app
from chatfleet.chat.simulator.state import SimulatorState

STARTUP_TIMEOUT_S = 10.0


KEEP_ALIVE_S = 120


def _base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def uvicorn_config(app: FastAPI) -> uvicorn.Config:
    """Keep-alive like a cloud endpoint (uvicorn's 5 s default makes busy clients reuse connections the
    server is closing, which shows up as spurious connection errors under load)."""
    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=2,
        backlog=LISTEN_BACKLOG,
    )


def _server(config: SimulatorConfig) -> tuple[uvicorn.Server, SimulatorState]:
    app = build_app(config)
    return uvicorn.Server(uvicorn_config(app)), app.state.simulator


@dataclass
class RunningSimulator:
    """A started simulator: its URL, its live state (faults, counters) and how to stop it."""

    base_url: str
    state: SimulatorState
    server: uvicorn.Server
    task: asyncio.Task[None] | None = None

    async def aclose(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task


async def start(
    config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> RunningSimulator:
    """Serve in the running event loop; `await sim.aclose()` stops it."""
    sock = bind(host, port)
    server, state = _server(config or SimulatorConfig())
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return RunningSimulator(_base_url(sock), state, server, task)


@contextlib.contextmanager
def run_in_background(
    config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> Iterator[RunningSimulator]:
    """`with run_in_background(cfg) as sim:` serves in a daemon thread with its own event loop.

    The admin API over HTTP is the safe way to change faults from another thread; `sim.state` is for reads.
    """
    sock = bind(host, port)
    server, state = _server(config or SimulatorConfig())
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as error:  # surfaced to the caller below
            failure.append(error)

    thread = threading.Thread(target=serve, name="chatfleet-simulator", daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(int(STARTUP_TIMEOUT_S / 0.01)):
        if server.started or failure or not thread.is_alive():
            started.set()
            break
        started.wait(0.01)
    if not server.started:
        server.should_exit = True
        thread.join(STARTUP_TIMEOUT_S)
        sock.close()
        raise RuntimeError(f"simulator did not start: {failure[0] if failure else 'timeout'}")
    try:
        yield RunningSimulator(_base_url(sock), state, server)
    finally:
        server.should_exit = True
        thread.join(STARTUP_TIMEOUT_S)
        sock.close()
