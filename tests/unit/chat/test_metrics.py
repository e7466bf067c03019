"""Metrics: the rolling p95 the HPA reads, bounded tenant labels, the exported names."""

from prometheus_client import generate_latest

from chatfleet.chat.telemetry.metrics import RollingQuantile, ServiceMetrics


def test_rolling_p95_forgets_old_samples() -> None:
    now = [0.0]
    window = RollingQuantile(60, 0.95, clock=lambda: now[0])
    assert window.value() == 0.0
    for i in range(1, 101):
        window.observe(i / 100)
    assert window.value() == 0.95
    now[0] = 61.0
    window.observe(0.2)
    assert window.value() == 0.2


def test_tenant_labels_bounded_and_names_exported() -> None:
    metrics = ServiceMetrics(["contoso"], 60)
    assert metrics.tenant_label("contoso") == "contoso"
    assert metrics.tenant_label("attacker-chosen-123") == "other"
    metrics.observe_ttft("/chat/stream", "contoso", 0.25)
    metrics.observe_ttft("/chat/stream", "someone", 0.5)
    metrics.requests_total.labels("/chat", "200").inc()
    metrics.output_tokens_total.labels("other").inc(5)
    text = generate_latest(metrics.registry).decode()
    for name in (
        "chatfleet_ttft_seconds_bucket",
        "chatfleet_inflight_streams",
        "chatfleet_ttft_p95_seconds 0.5",
        "chatfleet_output_tokens_total",
        'chatfleet_requests_total{code="200",route="/chat"}',
        "chatfleet_retrieval_seconds",
    ):
        assert name in text
    assert 'tenant="other"' in text and "someone" not in text
