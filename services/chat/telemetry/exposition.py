"""The Prometheus listener on its own port (CHATFLEET_METRICS_PORT), away from the port users reach.

Metrics carry per-tenant series, so they are served only where the NetworkPolicy lets the monitoring
namespace in, never by the user-facing Service. prometheus_client's threaded WSGI server does the serving:
a scrape keeps working while the event loop is busy or the user port is at its connection cap, which is
exactly when the HPA needs the numbers. Its handler has a socket timeout, so a stalled client on this port
holds a thread for at most `READ_TIMEOUT_S`.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import REGISTRY, CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.metrics_core import Metric

READ_TIMEOUT_S = 10.0


class _ServiceMetrics:
    """The app's own registry (once the app has started) followed by the default one (upstream calls,
    process metrics)."""

    def __init__(self, registry_of: Callable[[], CollectorRegistry | None]) -> None:
        self._registry_of = registry_of

    def collect(self) -> Iterable[Metric]:
        own = self._registry_of()
        if own is not None:
            yield from own.collect()
        yield from REGISTRY.collect()


class _QuietHandler(WSGIRequestHandler):
    timeout = READ_TIMEOUT_S  # socket timeout of each connection's reads and writes

    def log_message(self, format: str, *args: object) -> None:
        """One line per scrape would drown the service's own logs."""


class MetricsListener:
    """`/metrics` (any path, like prometheus_client's own server) on host:port in a daemon thread."""

    def __init__(self, host: str, port: int, registry_of: Callable[[], CollectorRegistry | None]) -> None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_ServiceMetrics(registry_of))  # a registry, so `?name[]=` filtering works too

        class Server(ThreadingWSGIServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

        self._server = make_server(host, port, make_wsgi_app(registry), Server, handler_class=_QuietHandler)
        self.port: int = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
