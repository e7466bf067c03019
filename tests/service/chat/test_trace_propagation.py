"""W3C trace context in and out: a caller's `traceparent` becomes the parent of the service's spans, and the
upstream model call carries the trace on, so one trace shows client -> chat service -> Azure OpenAI."""

import json
import re
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from chatfleet.chat.api import turns
from chatfleet.chat.chain import orchestrator
from chatfleet.chat.llm import tracing as llm_tracing

pytestmark = pytest.mark.service

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN_ID}-01"
QUESTION = {"messages": [{"role": "user", "content": "How do I fix VPN error GP-4012?"}]}


def last_traceparent(admin: httpx.Client, deployment: str = "gpt-4o-mini") -> str | None:
    return admin.get("/_sim/state").json()["deployments"][deployment]["last_traceparent"]


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """A recording provider for the service's tracers (the process-wide provider stays unset, as with
    no CHATFLEET_OTEL_EXPORTERS, so this test does not leak exporters into others)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    for module, name in (
        (turns, "chatfleet.chat.api"),
        (orchestrator, "chatfleet.chat.chain"),
        (llm_tracing, "chatfleet.chat.llm"),
    ):
        monkeypatch.setattr(module, "tracer", provider.get_tracer(name))
    return exporter


async def test_non_recording_service_still_forwards_the_callers_trace(service, admin) -> None:
    """With no exporter configured the service records nothing, yet the upstream call stays in the trace."""
    async with service.client() as client:
        response = await client.post("/chat", json=QUESTION, headers={"traceparent": TRACEPARENT})
    assert response.status_code == 200, response.text
    assert last_traceparent(admin) == TRACEPARENT


async def test_spans_join_the_callers_trace_and_upstream_gets_the_attempt_span(service, admin, spans) -> None:
    async with (
        service.client() as client,
        client.stream(
            "POST", "/chat/stream", json=QUESTION, headers={"traceparent": TRACEPARENT}
        ) as response,
    ):
        assert response.status_code == 200
        await response.aread()
    finished = {span.name: span for span in spans.get_finished_spans()}
    server = finished["chat /chat/stream"]
    assert server.kind is SpanKind.SERVER
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert server.parent is not None and format(server.parent.span_id, "016x") == CALLER_SPAN_ID
    assert server.parent.is_remote

    retrieve, answer = finished["chatfleet.retrieve"], finished["chatfleet.answer"]
    attempt = finished["chat gpt-4o-mini"]
    for child in (retrieve, answer, attempt):
        assert child.context.trace_id == server.context.trace_id
        assert child.parent is not None and child.parent.span_id == server.context.span_id
    assert attempt.kind is SpanKind.CLIENT
    assert attempt.attributes["gen_ai.usage.output_tokens"] > 0

    # What the model endpoint saw names this very attempt span: its own telemetry joins the trace there.
    assert last_traceparent(admin) == f"00-{TRACE_ID}-{attempt.context.span_id:016x}-01"


async def test_without_a_callers_trace_a_new_trace_starts_and_is_forwarded(service, admin, spans) -> None:
    async with service.client() as client:
        response = await client.post("/chat", json=QUESTION)
    assert response.status_code == 200
    finished = {span.name: span for span in spans.get_finished_spans()}
    server, attempt = finished["chat /chat"], finished["chat gpt-4o-mini"]
    assert server.parent is None
    forwarded = last_traceparent(admin)
    assert forwarded is not None
    _version, trace_id, parent_id, flags = forwarded.split("-")
    assert (trace_id, parent_id) == (f"{server.context.trace_id:032x}", f"{attempt.context.span_id:016x}")
    assert int(flags, 16) & 1  # sampled


WORKBOOK = Path(__file__).resolve().parents[3] / "examples" / "azure-monitor" / "chatfleet-workbook.json"


async def test_workbook_queries_read_attributes_the_spans_carry(service, spans) -> None:
    """The Application Insights workbook filters and reads span attributes by name (customDimensions); each
    one it names must be on the span kind its table stores: requests = SERVER spans, dependencies = the
    Azure OpenAI attempt (CLIENT) and retrieval spans."""
    async with service.client() as client, client.stream("POST", "/chat/stream", json=QUESTION) as response:
        assert response.status_code == 200
        await response.aread()
    finished = {span.name: span for span in spans.get_finished_spans()}
    server, attempt, retrieve = (
        finished["chat /chat/stream"],
        finished["chat gpt-4o-mini"],
        finished["chatfleet.retrieve"],
    )
    assert server.attributes["chatfleet.ttft_ms"] > 0
    queries = [
        item["content"]["query"] for item in json.loads(WORKBOOK.read_text())["items"] if item["type"] == 3
    ]
    assert queries
    for query in queries:
        keys = set(re.findall(r'customDimensions\["([^"]+)"\]', query))
        if query.startswith("requests"):
            assert query.startswith('requests | where name startswith "chat /"') and server.name.startswith(
                "chat /"
            )
            carried = server.attributes
        elif 'name == "chatfleet.retrieve"' in query:
            carried = retrieve.attributes
        else:
            assert attempt.name.startswith("chat ") and attempt.kind is SpanKind.CLIENT
            carried = attempt.attributes
        assert keys <= set(carried or {}), (query, keys - set(carried or {}))
