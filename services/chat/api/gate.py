"""The ASGI gate in front of every route: draining, body-size limit, request clock, request metrics.

Pure ASGI (not BaseHTTPMiddleware) so streamed responses pass through untouched and unbuffered, and the
per-request cost stays a few microseconds.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from chatfleet.chat.api.problems import problem_response
from chatfleet.chat.problems import DRAINING, PAYLOAD_TOO_LARGE, ProblemError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ALWAYS_OPEN = frozenset({"/healthz", "/readyz"})
DRAIN_RETRY_AFTER_S = 1.0


async def _discard_body(receive: Receive, limit: int) -> None:
    """Reads the request body (up to `limit` bytes) before a 503 that closes the connection.

    Closing a socket with unread request bytes makes the kernel send a TCP reset, which can destroy the
    503 before the client reads it; the client then sees a dropped connection instead of "retry".
    """
    seen = 0
    while seen <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class ServiceGate:
    def __init__(self, app: ASGIApp, *, routes: frozenset[str], runtime_of: Callable[[Scope], Any]) -> None:
        self.app = app
        self.routes = routes
        self.runtime_of = runtime_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["t0"] = time.perf_counter()
        runtime = self.runtime_of(scope)
        path = scope["path"]
        route = path if path in self.routes else "other"
        if runtime is None:
            await self.app(scope, receive, send)
            return
        counter = runtime.metrics.requests_total

        async def counted_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                counter.labels(route, str(message["status"])).inc()
            await send(message)

        if runtime.draining and path not in ALWAYS_OPEN:
            error = ProblemError(
                DRAINING,
                "this replica is shutting down; retry",
                retry_after_s=DRAIN_RETRY_AFTER_S,
                headers={"Connection": "close"},
            )
            await _discard_body(receive, runtime.settings.max_body_bytes)
            await problem_response(error, path)(scope, receive, counted_send)
            return
        limit = runtime.settings.max_body_bytes
        too_large = ProblemError(
            PAYLOAD_TOO_LARGE,
            f"request body exceeds {limit} bytes (CHATFLEET_MAX_BODY_BYTES)",
            extensions={"limit": "max_body_bytes", "max": limit},
        )
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > limit:
                await problem_response(too_large, path)(scope, receive, counted_send)
                return
            await self.app(scope, receive, counted_send)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, counted_send)
            return
        # Chunked upload: read it here (bounded) and replay it, so the limit holds without a length header.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, counted_send)
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await problem_response(too_large, path)(scope, receive, counted_send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, counted_send)
