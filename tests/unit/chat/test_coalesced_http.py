"""The header block of a response waits for the first body bytes (one write), and never longer than the
current event-loop turn; interim 100 Continue and everything else pass straight through."""

import asyncio

from chatfleet.chat.coalesced_http import CoalescingTransport

HEADERS = b"HTTP/1.1 200 OK\r\ncontent-type: application/jsonl\r\ntransfer-encoding: chunked\r\n\r\n"
FIRST = b"1f\r\n" + b'{"delta":{"role":"assistant"}}\n' + b"\r\n"


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 8000) if name == "sockname" else default


async def test_headers_leave_with_the_first_body_bytes() -> None:
    inner = RecordingTransport()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(HEADERS)
    assert inner.writes == [], "held for the body"
    transport.write(FIRST)
    transport.write(b"0\r\n\r\n")
    assert inner.writes == [HEADERS + FIRST, b"0\r\n\r\n"]
    await asyncio.sleep(0)
    assert len(inner.writes) == 2, "the scheduled flush finds nothing left"


async def test_headers_alone_leave_at_the_end_of_the_loop_turn() -> None:
    inner = RecordingTransport()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(HEADERS)
    await asyncio.sleep(0)
    assert inner.writes == [HEADERS]


async def test_interim_response_and_close_are_not_held() -> None:
    inner = RecordingTransport()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert inner.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    transport.write(HEADERS)
    transport.close()
    assert inner.writes[-1] == HEADERS and inner.closed, "close flushes first"
    assert transport.get_extra_info("sockname") == ("127.0.0.1", 8000), "the rest is the real transport's"
