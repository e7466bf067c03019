"""Each upstream attempt is one GenAI client span: a failover shows as a failed span then a good one."""

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from chatfleet.chat.llm import StreamEnd
from chatfleet.chat.llm import tracing as llm_tracing

pytestmark = pytest.mark.service

MESSAGES = [
    {"role": "system", "content": "Sources:\n[spans.md#0]: Every upstream attempt gets its own span."},
    {"role": "user", "content": "What gets its own span?"},
]


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """A private provider for the router's tracer; the process-wide provider stays the service's business."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(llm_tracing, "tracer", provider.get_tracer("chatfleet.chat.llm"))
    return exporter


async def test_stream_spans_follow_genai_conventions(pool, admin, spans, make_router) -> None:
    admin.put("/_sim/faults/bad", json={"error_rate": 1.0}).raise_for_status()
    router = make_router(pool("bad", good={"priority": 2}))
    items = [
        item
        async for item in router.stream(MESSAGES, max_tokens=64, temperature=0.2, seed=7, operation="answer")
    ]
    assert isinstance(items[-1], StreamEnd)
    failed, succeeded = spans.get_finished_spans()
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["http.response.status_code"] == 503
    assert failed.attributes["chatfleet.deployment.name"] == "bad"
    attributes = succeeded.attributes
    assert succeeded.name == "chat good" and succeeded.kind is SpanKind.CLIENT
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "azure.ai.openai"
    assert attributes["gen_ai.request.model"] == "good"
    assert attributes["gen_ai.response.model"] == "gpt-4o-mini"
    assert attributes["gen_ai.request.max_tokens"] == 64
    assert attributes["gen_ai.request.temperature"] == 0.2
    assert attributes["gen_ai.request.seed"] == 7
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.usage.output_tokens"] == items[-1].output_tokens
    assert attributes["gen_ai.usage.input_tokens"] == items[-1].input_tokens
    assert attributes["gen_ai.response.time_to_first_chunk"] > 0
    assert attributes["server.address"] == "127.0.0.1"
    assert attributes["chatfleet.llm.purpose"] == "answer"
    assert attributes["chatfleet.llm.attempt"] == 2
    assert [event.name for event in succeeded.events] == ["gen_ai.first_chunk"]
