"""Loopback ports for processes that must be told their port before they start."""

import socket


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (the OS may hand it out again: fine for tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
