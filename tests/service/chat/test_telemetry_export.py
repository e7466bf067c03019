"""OTLP and Application Insights at once: a real `chatfleet serve` configured by its environment only (as the
rendered pod is) sends the spans of one chat turn to a local OTLP/HTTP receiver AND to a local Application
Insights ingestion endpoint; neither exporter wins over the other."""

from __future__ import annotations

import gzip
import json
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

pytestmark = pytest.mark.service

QUESTION = {"messages": [{"role": "user", "content": "How do I fix VPN error GP-4012?"}]}


@dataclass
class Receiver:
    """An HTTP endpoint that records every POST (path, body) and answers like the real one."""

    reply: bytes
    posts: list[tuple[str, bytes]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    otlp = Receiver(reply=ExportTraceServiceRequest().SerializeToString())
    # What the Breeze ingestion API answers to POST /v2.1/track.
    ingestion = Receiver(reply=b'{"itemsReceived": 0, "itemsAccepted": 0, "errors": []}')
    servers = []
    for receiver in (otlp, ingestion):

        class Handler(BaseHTTPRequestHandler):
            target = receiver

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                self.target.posts.append((self.path, body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(self.target.reply)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        receiver.url = f"http://127.0.0.1:{server.server_port}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    yield otlp, ingestion
    for server in servers:
        server.shutdown()
        server.server_close()


def otlp_span_names(receiver: Receiver) -> set[str]:
    names = set()
    for path, body in receiver.posts:
        assert path == "/v1/traces"
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            assert service["service.name"] == "support-bot-otel-test"  # OTEL_SERVICE_NAME honoured
            names |= {s.name for scope in resource_spans.scope_spans for s in scope.spans}
    return names


def app_insights_span_names(receiver: Receiver) -> set[str]:
    names = set()
    for path, body in receiver.posts:
        assert path == "/v2.1/track"
        text = body.decode()
        items = json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines()]
        for item in items:
            data = item["data"]["baseData"]
            if "name" in data and item["data"]["baseType"] in ("RequestData", "RemoteDependencyData"):
                names.add(data["name"])
    return names


def test_spans_reach_otlp_and_application_insights_at_once(stack, receivers) -> None:
    otlp, ingestion = receivers
    env = {
        "CHATFLEET_OPENAI_DEPLOYMENTS": json.dumps(
            [
                {
                    "name": "sim",
                    "endpoint": stack.simulator.base_url,
                    "deployment": "gpt-4o-mini",
                    "apiKey": "k",
                }
            ],
        ),
        "CHATFLEET_INDEX_PATH": str(stack.index),
        "CHATFLEET_OTEL_EXPORTERS": "otlp,azure_monitor",
        # The SDK's own variables: endpoint, protocol, service name, batch delay.
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_SERVICE_NAME": "support-bot-otel-test",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "APPLICATIONINSIGHTS_CONNECTION_STRING": (
            f"InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint={ingestion.url}/"
        ),
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",  # the SDK's own telemetry to Microsoft
    }
    with stack.serve_subprocess(env, "--dev") as service:
        response = httpx.post(
            f"{service.url}/chat", json=QUESTION, headers={"X-Chatfleet-Tenant": "contoso"}, timeout=30
        )
        assert response.status_code == 200, service.log()
        service.proc.send_signal(signal.SIGTERM)  # shutdown flushes both batch processors
        service.proc.wait(30)
        log = service.log()
    assert "traces exported to otlp and azure_monitor" in log
    exported = otlp_span_names(otlp)
    assert {"chatfleet.retrieve", "chatfleet.answer"} <= exported, log
    assert {"chatfleet.retrieve", "chatfleet.answer"} <= app_insights_span_names(ingestion), log
