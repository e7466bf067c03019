"""OpenTelemetry tracing set-up: OTLP or Azure Monitor by settings, W3C trace context in and out.

With `otel_exporter=none` no SDK provider is installed: spans are non-recording and cost next to nothing,
yet an incoming `traceparent` is still continued, so upstream calls stay in the caller's trace.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from chatfleet import __version__
from chatfleet.chat.config import Settings

log = logging.getLogger(__name__)


class Tracing:
    """Owns the tracer provider it installed (if any) so shutdown flushes exactly what it created."""

    def __init__(self, provider: TracerProvider | None) -> None:
        self.provider = provider

    @classmethod
    def configure(cls, settings: Settings) -> Tracing:
        if settings.otel_exporter == "none":
            return cls(None)
        resource = Resource.create({"service.name": settings.service_name, "service.version": __version__})
        if settings.otel_exporter == "azure_monitor":
            from azure.monitor.opentelemetry import configure_azure_monitor

            assert settings.applicationinsights_connection_string is not None
            configure_azure_monitor(
                connection_string=settings.applicationinsights_connection_string.get_secret_value(),
                resource=resource,
                enable_live_metrics=False,
            )
            log.info("traces exported to Azure Monitor")
            return cls(None)
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otel_endpoint)))
        trace.set_tracer_provider(provider)
        log.info("traces exported by OTLP to %s", settings.otel_endpoint)
        return cls(provider)

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()


def extract_context(headers: Mapping[str, str]) -> context.Context:
    """The caller's W3C trace context (`traceparent`/`tracestate`), or an empty context."""
    return propagate.extract(headers)
