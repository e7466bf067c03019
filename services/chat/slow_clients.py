"""Read deadlines for uvicorn's HTTP protocol: slow or silent clients are dropped (slowloris).

uvicorn (0.55) has a keep-alive timer only between requests: a connection that never sends a byte, or
trickles its headers or body one byte at a time, holds its socket and buffers forever. This protocol adds
what nginx calls client_header_timeout and client_body_timeout:

- the header block must be complete `header_timeout_s` after the connection opens, or after the first byte
  of the next request on a kept-alive connection; and it may be at most `max_header_bytes` long (431);
- the body must be complete `body_timeout_s` after the headers.

A late client's connection is closed without a response (nothing was asked for in full). The timers stop
at the end of the request, so an answer that streams for minutes is never cut: the response side is bounded
by the chat deadline (CHATFLEET_OPENAI_DEADLINE_S), and an idle connection afterwards by uvicorn's own
keep-alive timeout.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import ClassVar

from chatfleet.chat.coalesced_http import CoalescingHttpToolsProtocol
from chatfleet.chat.problems import HEADER_TOO_LARGE

# After a 431 the client may still be sending its headers: closing a socket with unread bytes makes the
# kernel send a reset, which can destroy the 431 before the client reads it. So the write side is shut
# (FIN after the response), further bytes are read and dropped, and the socket closes this much later.
LINGER_S = 2.0


@dataclass(frozen=True)
class ReadDeadlines:
    header_timeout_s: float = 15.0
    body_timeout_s: float = 30.0
    max_header_bytes: int = 65_536


def _too_large_response(limit: int) -> bytes:
    body = json.dumps(
        {
            "type": HEADER_TOO_LARGE.uri,
            "title": HEADER_TOO_LARGE.title,
            "status": HEADER_TOO_LARGE.status,
            "detail": f"the request's header block exceeds {limit} bytes (CHATFLEET_MAX_HEADER_BYTES)",
        }
    ).encode()
    head = (
        "HTTP/1.1 431 Request Header Fields Too Large\r\n"
        "content-type: application/problem+json\r\n"
        "connection: close\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class DeadlineHttpProtocol(CoalescingHttpToolsProtocol):
    """Pass `with_deadlines(ReadDeadlines(...))` as `uvicorn.Config(http=...)`."""

    deadlines: ClassVar[ReadDeadlines] = ReadDeadlines()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._timer: asyncio.TimerHandle | None = None
        self._in_headers = True
        self._header_bytes = 0
        self._discarding = False
        self._arm(self.deadlines.header_timeout_s)  # a connection that never sends a byte

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        super().data_received(data)
        if not self._in_headers or self.transport.is_closing():
            return
        self._header_bytes += len(data)  # the header block is still incomplete after this chunk
        if self._header_bytes > self.deadlines.max_header_bytes:
            self._disarm()
            self._discarding = True
            self.transport.write(_too_large_response(self.deadlines.max_header_bytes))
            self.transport.write_eof()
            self.loop.call_later(LINGER_S, self.transport.close)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        self._header_bytes = 0
        if self._timer is None:  # the first byte of a request on a kept-alive connection
            self._arm(self.deadlines.header_timeout_s)

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._arm(self.deadlines.body_timeout_s)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self.cycle is not None and self.cycle.response_started and not self.cycle.response_complete:
            return  # the app answered before reading the whole body: let that answer finish
        if not self.transport.is_closing():
            self.transport.close()


def with_deadlines(deadlines: ReadDeadlines) -> type[DeadlineHttpProtocol]:
    """uvicorn instantiates the protocol class itself, so the settings travel as a subclass attribute."""
    return type("DeadlineHttpProtocol", (DeadlineHttpProtocol,), {"deadlines": deadlines})
