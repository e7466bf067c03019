"""OpenTelemetry tracing set-up: OTLP and Azure Monitor, each or both, on one tracer provider.

The exporters come from `CHATFLEET_OTEL_EXPORTERS` and the SDK's standard variables:
`OTEL_TRACES_EXPORTER` (`otlp`, `none`), `OTEL_SDK_DISABLED`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
`OTEL_TRACES_SAMPLER[_ARG]`, `OTEL_BSP_*` and `OTEL_EXPORTER_OTLP_[TRACES_]{ENDPOINT,HEADERS,PROTOCOL,...}`
are read by the SDK itself, so they work as its documentation says. Both exporters hang off one provider (the
Azure Monitor distro would install a provider of its own, and whichever came first silently won).

With no exporter no SDK provider is installed: spans are non-recording and cost next to nothing, yet an
incoming `traceparent` is still continued, so upstream calls stay in the caller's trace.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from chatfleet import __version__
from chatfleet.chat.config import Settings

log = logging.getLogger(__name__)

HTTP_PROTOCOL = "http/protobuf"


def enabled_exporters(settings: Settings, environ: Mapping[str, str] = os.environ) -> list[str]:
    """`otlp` and/or `azure_monitor`: the settings' list plus `OTEL_TRACES_EXPORTER`'s `otlp`;
    `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn every exporter off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    standard = [e.strip() for e in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if e.strip()]
    if standard == ["none"]:
        return []
    chosen: list[str] = list(settings.otel_exporters)
    if "otlp" in standard and "otlp" not in chosen:
        chosen.append("otlp")
    return chosen


def otlp_exporter(settings: Settings, environ: Mapping[str, str] = os.environ) -> SpanExporter:
    """gRPC unless `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL` says http/protobuf; without
    `CHATFLEET_OTEL_ENDPOINT` the exporter reads `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT` itself."""
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"
    )
    endpoint = settings.otel_endpoint
    if protocol == HTTP_PROTOCOL:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        # The SDK appends the signal path only to the endpoint it reads from the environment.
        return HttpExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces" if endpoint else None)
    if protocol != "grpc":
        raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: use grpc or {HTTP_PROTOCOL}")
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

    return GrpcExporter(endpoint=endpoint)


def azure_monitor_exporter(settings: Settings) -> SpanExporter:
    from azure.monitor.opentelemetry.exporter import AzureMonitorTraceExporter

    assert settings.applicationinsights_connection_string is not None  # checked by Settings
    return AzureMonitorTraceExporter(
        connection_string=settings.applicationinsights_connection_string.get_secret_value()
    )


def resource(settings: Settings) -> Resource:
    """service.name/version from the settings; `OTEL_SERVICE_NAME`/`OTEL_RESOURCE_ATTRIBUTES` win."""
    ours = Resource.create({"service.name": settings.service_name, "service.version": __version__})
    return ours.merge(OTELResourceDetector().detect())


class Tracing:
    """Owns the tracer provider it installed (if any) so shutdown flushes exactly what it created."""

    def __init__(self, provider: TracerProvider | None) -> None:
        self.provider = provider

    @classmethod
    def configure(cls, settings: Settings, environ: Mapping[str, str] = os.environ) -> Tracing:
        exporters = enabled_exporters(settings, environ)
        if not exporters:
            return cls(None)
        # No sampler argument: the SDK reads OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG.
        provider = TracerProvider(resource=resource(settings))
        for name in exporters:
            if name == "otlp":
                exporter = otlp_exporter(settings, environ)
            else:
                exporter = azure_monitor_exporter(settings)
            provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        log.info("traces exported to %s", " and ".join(exporters))
        return cls(provider)

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()


def extract_context(headers: Mapping[str, str]) -> context.Context:
    """The caller's W3C trace context (`traceparent`/`tracestate`), or an empty context."""
    return propagate.extract(headers)
