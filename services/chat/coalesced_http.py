"""uvicorn's HTTP protocol with a response's header block sent together with its first body bytes.

uvicorn writes the header block the moment the app sends `http.response.start`, and the body in a second
write. A stream route starts its response only when the first answer token is in hand (until then a failure
is still a proper problem response), so both writes sit on the first-token path: two segments, and on a
loopback client two wake-ups, where the second waits for the client to finish the first (the kernel runs a
woken reader on the writer's core). Holding the header block until the next write costs nothing: the app
sends the first body right after the start in the same task step. A header block with no body behind it (a
204, a HEAD, an app that waits before its body) still leaves at the end of the current event-loop turn.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_STATUS_LINE = b"HTTP/1.1 "
_INTERIM = b"HTTP/1.1 1"  # 100 Continue: the client waits for it before it sends the body
_END_OF_HEADERS = b"\r\n\r\n"


class CoalescingTransport:
    """A transport whose header-block writes wait for the next write (or the end of the loop turn)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held = b""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._held:
            held, self._held = self._held, b""
            self._transport.write(held + bytes(data))
            return
        if _is_header_block(data):
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        if self._held:
            held, self._held = self._held, b""
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _is_header_block(data: bytes | bytearray | memoryview) -> bool:
    head = bytes(data[: len(_INTERIM)])
    return head.startswith(_STATUS_LINE) and head != _INTERIM and bytes(data[-4:]) == _END_OF_HEADERS


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a CoalescingTransport (pass as `uvicorn.Config(http=...)`)."""

    # ignores: uvicorn's protocol narrows asyncio's BaseTransport to Transport, and CoalescingTransport
    # wraps one (passing through what the protocol calls) rather than subclassing it.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        wrapped = CoalescingTransport(transport, asyncio.get_running_loop())
        super().connection_made(wrapped)  # type: ignore[arg-type]
