"""One OpenTelemetry span per upstream attempt, with the GenAI semantic conventions, so a trace shows which
deployment answered, after how long, and why an attempt failed over. Only the API is used here: the
service configures providers and exporters.
"""

from typing import Any
from urllib.parse import urlsplit

from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from chatfleet.chat.llm.config import DeploymentConfig

tracer = trace.get_tracer("chatfleet.chat.llm")
PROVIDER = "azure.ai.openai"


def start_attempt_span(
    config: DeploymentConfig,
    *,
    purpose: str,
    attempt: int,
    max_tokens: int,
    temperature: float | None,
    seed: int | None,
    streaming: bool,
) -> Span:
    """Started, not made current: a stream's span outlives the generator frames that would detach it."""
    url = urlsplit(config.endpoint)
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": PROVIDER,
        "gen_ai.system": "az.ai.openai",
        "gen_ai.request.model": config.deployment,
        "gen_ai.request.max_tokens": max_tokens,
        "server.address": url.hostname or config.endpoint,
        "server.port": url.port or (443 if url.scheme == "https" else 80),
        "chatfleet.llm.purpose": purpose,
        "chatfleet.llm.attempt": attempt,
        "chatfleet.llm.streaming": streaming,
        "chatfleet.deployment.name": config.name,
        "chatfleet.deployment.type": config.type,
        "chatfleet.deployment.priority": config.priority,
    }
    if temperature is not None:
        attributes["gen_ai.request.temperature"] = temperature
    if seed is not None:
        attributes["gen_ai.request.seed"] = seed
    return tracer.start_span(f"chat {config.deployment}", kind=SpanKind.CLIENT, attributes=attributes)


def trace_headers(span: Span) -> dict[str, str]:
    """W3C `traceparent`/`tracestate` naming the attempt span, so the upstream's own telemetry (Azure OpenAI
    diagnostics, an APIM gateway, the simulator's log) joins the caller's trace."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    return carrier


def record_first_chunk(span: Span, ttft_s: float) -> None:
    span.set_attribute("gen_ai.response.time_to_first_chunk", ttft_s)
    span.add_event("gen_ai.first_chunk", {"gen_ai.response.time_to_first_chunk": ttft_s})


def end_success(
    span: Span,
    *,
    model: str,
    response_id: str | None,
    finish_reason: str,
    input_tokens: int,
    output_tokens: int,
) -> None:
    span.set_attribute("gen_ai.response.model", model)
    if response_id:
        span.set_attribute("gen_ai.response.id", response_id)
    span.set_attribute("gen_ai.response.finish_reasons", [finish_reason])
    span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
    span.set_attribute("gen_ai.usage.output_tokens", output_tokens)
    span.set_attribute("chatfleet.llm.outcome", "success")  # as chatfleet_upstream_requests_total counts
    span.end()


def end_failure(span: Span, outcome: str, error: BaseException | None = None) -> None:
    span.set_attribute("error.type", type(error).__name__ if error is not None else outcome)
    span.set_attribute("chatfleet.llm.outcome", outcome)
    if error is not None:
        span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, outcome))
    span.end()
