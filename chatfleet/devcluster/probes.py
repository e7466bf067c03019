"""How the dev cluster picks its ports and learns it is ready: free loopback ports, TCP and HTTP probes,
and `AdminHTTP`, the admin's raw HTTPS view of the API server (no kubernetes client needed to start)."""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx


def free_ports(count: int) -> list[int]:
    """Ports the OS picks on 127.0.0.1; all sockets stay open until every port is chosen (no duplicates)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def http_ok(url: str) -> bool:
    return httpx.get(url, timeout=2.0).status_code == 200


class AdminHTTP:
    """HTTPS requests to the API server as the cluster admin (client certificate, the cluster's CA)."""

    def __init__(self, server: str, ca_file: Path, cert: tuple[str, str]) -> None:
        self.server = server
        self.ca_file = ca_file
        self.cert = cert

    @contextlib.contextmanager
    def client(self) -> Iterator[httpx.Client]:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.load_cert_chain(*self.cert)
        with httpx.Client(base_url=self.server, verify=context, timeout=5.0) as client:
            yield client

    def ok(self, path: str) -> bool:
        with self.client() as client:
            return client.get(path).status_code == 200

    def apiserver_ready(self) -> bool:
        return self.ok("/readyz")

    def default_service_account_exists(self) -> bool:
        """The controller manager's controllers run once they have created this."""
        return self.ok("/api/v1/namespaces/default/serviceaccounts/default")

    def create(self, path: str, manifest: dict[str, object]) -> httpx.Response | None:
        """POSTs `manifest`; returns the response when it failed (an existing object is no failure)."""
        with self.client() as client:
            response = client.post(path, json=manifest)
        return None if response.status_code in (201, 409) else response

    def ready_nodes(self) -> int:
        with self.client() as client:
            items = client.get("/api/v1/nodes").json().get("items", [])
        return sum(
            any(
                cond.get("type") == "Ready" and cond.get("status") == "True"
                for cond in node.get("status", {}).get("conditions", [])
            )
            for node in items
        )
