"""Traces (OpenTelemetry) and metrics (Prometheus) of the chat service."""
