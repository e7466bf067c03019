"""The listener every chatfleet server uses: accepted connections must have TCP_NODELAY, or Nagle's algorithm
holds each small stream write until the client's delayed ACK (~40 ms: a whole token interval at the start of
every answer on a keep-alive connection)."""

import asyncio
import socket

import pytest

from chatfleet.chat.serving import bind

pytestmark = pytest.mark.service


async def test_accepted_connections_have_nodelay() -> None:
    listener = bind("127.0.0.1", 0)
    seen: list[int] = []

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(accepted, sock=listener)
    async with server:
        _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        for _ in range(200):
            if seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
    assert seen and seen[0] != 0


def test_listener_is_bound_and_listening_before_the_server_starts() -> None:
    listener = bind("127.0.0.1", 0)
    try:
        port = listener.getsockname()[1]
        assert port > 0
        with socket.create_connection(("127.0.0.1", port), timeout=2):  # waits in the backlog
            pass
    finally:
        listener.close()


async def test_stream_headers_arrive_with_the_first_line(service) -> None:
    """One write carries the header block and the stream's first line (coalesced_http.py): the first read
    of a raw socket gets both."""
    host, port = service.url.removeprefix("http://").split(":")
    body = b'{"messages": [{"role": "user", "content": "How do I fix VPN error GP-4012?"}]}'
    head = (
        b"POST /chat/stream HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n"
        b"x-chatfleet-tenant: contoso\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body)
    )
    request = head + body
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        first = await asyncio.wait_for(reader.read(65536), 30)
    finally:
        writer.close()
    head, _, rest = first.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b'{"delta":{"role":"assistant"}' in rest, "the first line came in a later segment"
