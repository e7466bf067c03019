"""Running the app under uvicorn with a Kubernetes-friendly drain.

On SIGTERM: readiness turns false and new chat requests get 503 at once (so the endpoint is dropped and
clients retry elsewhere); after `drain_delay_s` the listener closes and open streams get up to
`shutdown_grace_s` to finish (uvicorn's `timeout_graceful_shutdown`). A second SIGINT forces exit.

Connection hygiene comes from the app's settings: read deadlines on headers and body (`slow_clients`), the
keep-alive idle limit and a cap on open connections per replica (uvicorn's limit_concurrency: a request over
it gets 503).
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from types import FrameType

import uvicorn
from fastapi import FastAPI

from chatfleet.chat.config import Settings
from chatfleet.chat.slow_clients import ReadDeadlines, with_deadlines

log = logging.getLogger("chatfleet.chat.serving")


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI, drain_delay_s: float) -> None:
        super().__init__(config)
        self.app = app
        self.drain_delay_s = drain_delay_s
        self.drain_started: float | None = None
        self.on_started: Callable[[], None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.on_started is not None:
            self.on_started()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        runtime = self.app.state.runtime
        if runtime is not None and not runtime.draining:
            runtime.draining = True
            log.info("signal %s: draining (readiness false), closing in %.1fs", sig, self.drain_delay_s)
        if self.drain_started is None and self.drain_delay_s > 0:
            self.drain_started = time.monotonic()
            self._captured_signals.append(sig)
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self.drain_started is not None and time.monotonic() - self.drain_started >= self.drain_delay_s:
            self.should_exit = True
        return await super().on_tick(counter)


LISTEN_BACKLOG = 2048


def bind(host: str, port: int, backlog: int = LISTEN_BACKLOG) -> socket.socket:
    """Bind and listen before uvicorn starts: the real port is known even when the OS picked it (port 0),
    and clients that connect as soon as the URL is printed wait in the backlog instead of being refused.

    The protocol must be named (IPPROTO_TCP): asyncio sets TCP_NODELAY only on sockets whose `proto` says
    TCP, and accepted sockets inherit it. Without it Nagle holds each small stream write until the client's
    delayed ACK (~40 ms on Linux keep-alive connections): one token interval added to every first token.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def make_server(
    app: FastAPI, *, shutdown_grace_s: float, drain_delay_s: float, log_level: str
) -> DrainingServer:
    """The app's settings (`app.state.settings`) carry the connection limits."""
    settings: Settings = app.state.settings
    deadlines = ReadDeadlines(
        header_timeout_s=settings.header_timeout_s,
        body_timeout_s=settings.body_timeout_s,
        max_header_bytes=settings.max_header_bytes,
    )
    config = uvicorn.Config(
        app,
        # a response's headers leave with its first body bytes; slow or silent clients are dropped
        http=with_deadlines(deadlines),
        log_level=log_level.lower(),
        access_log=False,  # the service logs one line per chat turn (without content) instead
        # uvicorn annotates int but only hands it to asyncio.timeout(), which takes seconds as a float
        timeout_graceful_shutdown=shutdown_grace_s,  # type: ignore[arg-type]
        proxy_headers=True,
        server_header=False,
        # Longer than the idle timeout of the proxies in front (ingress-nginx: 60 s upstream keep-alive):
        # when the server closes an idle connection first, a proxy may send its next request into the
        # closing socket and see a reset. uvicorn annotates int; it only hands the value to call_later.
        timeout_keep_alive=settings.keep_alive_s,  # type: ignore[arg-type]
        limit_concurrency=settings.max_connections,
    )
    return DrainingServer(config, app, drain_delay_s)
