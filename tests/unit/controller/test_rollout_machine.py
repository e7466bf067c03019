"""The gated-rollout state machine, step by step, without a cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chatfleet.controller.loading import parse_application
from chatfleet.controller.render import render, revision
from chatfleet.controller.rollout.machine import plan, run_name
from chatfleet.controller.rollout.verdict import GateVerdict, parse_summary
from chatfleet.controller.spec import ChatApplication

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SUMMARY = """{"scenario": "steady", "passed": false, "requests": 420, "errorRatePercent": 0.2,
 "requestsPerSecond": 7, "tokensPerSecond": 310, "ttftMs": {"p50": 700, "p95": 2130, "p99": 2500},
 "verdicts": [{"slo": "ttftP95Ms", "limit": 1500, "measured": 2130, "passed": false}]}"""


def never(_: str) -> GateVerdict | None:
    raise AssertionError("poll must not be called outside Testing")


@pytest.fixture
def app(make_app) -> ChatApplication:
    doc = make_app({"metadata": {"name": "bot", "namespace": "ns", "uid": "u", "generation": 1}})
    return parse_application(doc)


def step(app: ChatApplication, poll=never, now: datetime = NOW):
    result = plan(app, revision(app.metadata.name, app.spec), poll, now)
    app.status = result.status
    return result


def change_image(app: ChatApplication, image: str) -> str:
    app.spec.image = image
    app.metadata.generation = (app.metadata.generation or 0) + 1
    return revision(app.metadata.name, app.spec)


def test_first_revision_deploys_without_a_gate(app: ChatApplication) -> None:
    result = step(app)
    assert app.status.revision.current == revision("bot", app.spec)
    assert app.status.rollout.phase == "Idle"
    assert result.start_run is None
    assert [e.reason for e in result.events] == ["Deployed"]


def test_new_revision_starts_a_gate_with_a_canary(app: ChatApplication) -> None:
    step(app)
    stable = app.status.revision.current
    candidate = change_image(app, "registry.example/chat:2.0.0")
    result = step(app)
    assert result.start_run == run_name(app, candidate)
    assert app.status.revision.current == stable and app.status.revision.candidate == candidate
    assert app.status.rollout.phase == "Testing" and app.status.rollout.started_at == NOW
    images = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
        for d in render(app)
        if d["kind"] == "Deployment"
    }
    assert images == {"bot": "registry.example/chat:1.0.0", "bot-canary": "registry.example/chat:2.0.0"}


def test_running_gate_waits(app: ChatApplication) -> None:
    step(app)
    change_image(app, "registry.example/chat:2.0.0")
    step(app)
    result = step(app, poll=lambda _: None, now=NOW + timedelta(seconds=30))
    assert app.status.rollout.phase == "Testing" and not result.events and not result.cancel_runs


def test_passed_gate_promotes_and_records_calibration(app: ChatApplication) -> None:
    step(app)
    candidate = change_image(app, "registry.example/chat:2.0.0")
    started = step(app).start_run
    summary = parse_summary(
        '{"passed": true, "ttftMs": {"p95": 900},'
        ' "calibration": {"streamsPerReplica": 12, "kneeConcurrency": 15}}'
    )
    result = step(app, poll=lambda _: GateVerdict(True, "SLOsMet", "ok", summary))
    assert app.status.revision.current == candidate and app.status.revision.candidate is None
    assert app.status.rollout.phase == "Idle"
    assert result.cancel_runs == [started]
    assert app.status.load_test.passed is True and app.status.load_test.ttft_p95_ms == 900
    assert app.status.scaling.streams_per_replica == 12 and app.status.scaling.source == "calibrated"
    assert [d["metadata"]["name"] for d in render(app) if d["kind"] == "Deployment"] == ["bot"]
    hpa = next(d for d in render(app) if d["kind"] == "HorizontalPodAutoscaler")
    assert hpa["spec"]["metrics"][0]["pods"]["target"]["averageValue"] == "12"


def test_failed_gate_rolls_back_and_stays_until_the_spec_changes(app: ChatApplication) -> None:
    step(app)
    stable = app.status.revision.current
    change_image(app, "registry.example/chat:2.0.0")
    step(app)
    verdict = GateVerdict(
        False, "SLOFailed", "SLO failed: ttftP95Ms: measured 2130, limit 1500", parse_summary(SUMMARY)
    )
    result = step(app, poll=lambda _: verdict)
    assert app.status.rollout.phase == "Failed" and app.status.revision.current == stable
    assert app.status.load_test.failed_slo == "ttftP95Ms: measured 2130, limit 1500"
    assert app.status.load_test.ttft_p95_ms == 2130
    assert [e.type for e in result.events] == ["Warning"]
    assert [d["metadata"]["name"] for d in render(app) if d["kind"] == "Deployment"] == ["bot"]
    again = step(app)
    assert again.start_run is None and app.status.rollout.phase == "Failed"


def test_stuck_gate_times_out(app: ChatApplication) -> None:
    app.spec.rollout.gate_timeout = "30s"
    step(app)
    change_image(app, "registry.example/chat:2.0.0")
    step(app)
    result = step(app, poll=lambda _: None, now=NOW + timedelta(seconds=31))
    assert result.verdict is not None and result.verdict.reason == "GateTimedOut"
    assert app.status.rollout.phase == "Failed"
    assert result.cancel_runs


def test_new_change_supersedes_a_running_gate(app: ChatApplication) -> None:
    step(app)
    change_image(app, "registry.example/chat:2.0.0")
    first = step(app).start_run
    newer = change_image(app, "registry.example/chat:3.0.0")
    result = step(app, poll=never)
    assert result.cancel_runs == [first]
    assert result.start_run == run_name(app, newer) != first
    assert app.status.revision.candidate == newer
    assert "GateSuperseded" in [e.reason for e in result.events]


def test_revert_during_gate_drops_it(app: ChatApplication) -> None:
    step(app)
    stable = app.status.revision.current
    change_image(app, "registry.example/chat:2.0.0")
    first = step(app).start_run
    change_image(app, "registry.example/chat:1.0.0")
    result = step(app)
    assert result.cancel_runs == [first]
    assert app.status.rollout.phase == "Idle" and app.status.revision.current == stable


def test_immediate_skips_the_gate(app: ChatApplication) -> None:
    step(app)
    app.spec.rollout.strategy = "Immediate"
    candidate = change_image(app, "registry.example/chat:2.0.0")
    result = step(app)
    assert result.start_run is None and app.status.revision.current == candidate
    assert [e.reason for e in result.events] == ["RolledOut"]


def test_scaling_change_is_not_a_revision(app: ChatApplication) -> None:
    step(app)
    app.spec.scaling.max_replicas = 40
    result = step(app)
    assert result.start_run is None and app.status.rollout.phase == "Idle"
    hpa = next(d for d in render(app) if d["kind"] == "HorizontalPodAutoscaler")
    assert hpa["spec"]["maxReplicas"] == 40


def test_the_gate_starts_only_once_the_canary_is_available(app: ChatApplication) -> None:
    """On a real node the canary's pods take a while to start: a load test started at once would measure
    refused connections and fail a good release."""
    step(app)
    candidate = change_image(app, "registry.example/chat:2.0.0")
    waiting = plan(app, candidate, never, NOW, candidate_ready=False)
    app.status = waiting.status
    assert waiting.start_run is None and not waiting.events
    assert app.status.rollout.phase == "Testing" and app.status.rollout.run is None
    assert any(d["metadata"]["name"] == "bot-canary" for d in render(app)), "the canary is rendered meanwhile"
    still = plan(app, candidate, never, NOW + timedelta(seconds=20), candidate_ready=False)
    assert still.start_run is None
    ready = plan(app, candidate, never, NOW + timedelta(seconds=40), candidate_ready=True)
    assert ready.start_run == run_name(app, candidate)
    assert ready.status.rollout.run == ready.start_run
    assert ready.status.rollout.started_at == NOW, "the gate timeout counts from the start of Testing"
    assert [e.reason for e in ready.events] == ["GateStarted"]


def test_a_canary_never_available_fails_the_gate_within_its_timeout(app: ChatApplication) -> None:
    step(app)
    candidate = change_image(app, "registry.example/chat:2.0.0")
    app.status = plan(app, candidate, never, NOW, candidate_ready=False).status
    late = NOW + timedelta(seconds=app_timeout(app) + 1)
    result = plan(app, candidate, never, late, candidate_ready=False)
    assert result.status.rollout.phase == "Failed" and result.start_run is None
    assert result.verdict is not None and result.verdict.reason == "CanaryNotAvailable"
    assert [e.reason for e in result.events] == ["RolledBack"]
    assert result.status.revision.current != candidate


def test_a_canary_that_cannot_start_fails_the_gate_at_once_naming_why(app: ChatApplication) -> None:
    step(app)
    stable = app.status.revision.current
    candidate = change_image(app, "registry.example/chat:2.0.0")
    app.status = plan(app, candidate, never, NOW, candidate_ready=False).status
    why = "pod bot-canary-1, container chat: exits at start-up (exit code 2, 2 restarts): bad setting"
    result = plan(
        app, candidate, never, NOW + timedelta(seconds=30), candidate_ready=False, candidate_failure=why
    )
    assert result.status.rollout.phase == "Failed" and result.start_run is None
    assert result.verdict is not None and result.verdict.reason == "CanaryFailedToStart"
    assert why in result.verdict.message and candidate in result.verdict.message
    assert [e.reason for e in result.events] == ["RolledBack"]
    assert result.status.revision.current == stable
    assert (
        result.status.load_test is not None and result.status.load_test.failed_slo == result.verdict.message
    )


def app_timeout(app: ChatApplication) -> int:
    from chatfleet.controller.cel import parse_duration

    return parse_duration(app.spec.rollout.gate_timeout) or 0
