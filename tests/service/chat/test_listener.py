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
