"""Parsing `chatfleet loadtest` results: tolerant of partial input, strict about exit codes."""

from __future__ import annotations

import json

from chatfleet.controller.rollout.verdict import parse_summary, timed_out, verdict_from_exit

FULL = {
    "scenario": "steady",
    "host": "http://bot-canary.ns.svc:8000",
    "users": 20,
    "runTimeSeconds": 60,
    "startedAt": "2026-11-24T12:00:00Z",
    "finishedAt": "2026-11-24T12:01:00Z",
    "requests": 600,
    "failures": 3,
    "errorRatePercent": 0.5,
    "requestsPerSecond": 10,
    "tokensPerSecond": 450,
    "ttftMs": {"p50": 400, "p90": 800, "p95": 1900, "p99": 2500},
    "latencyMs": {"p50": 2000, "p95": 4000, "p99": 5000},
    "slo": {"ttftP95Ms": 1500, "errorRatePercent": 1, "minTokensPerSecond": 20},
    "verdicts": [
        {"slo": "ttftP95Ms", "limit": 1500, "measured": 1900, "passed": False},
        {"slo": "errorRatePercent", "limit": 1, "measured": 0.5, "passed": True},
    ],
    "passed": False,
}


def test_full_summary_names_the_failing_slo() -> None:
    summary = parse_summary(json.dumps(FULL))
    assert summary is not None and summary.calibration is None
    assert summary.ttft_ms.p95 == 1900
    verdict = verdict_from_exit(1, summary, "http://x")
    assert not verdict.passed and verdict.reason == "SLOFailed"
    assert verdict.message == "SLO failed: ttftP95Ms: measured 1900, limit 1500"


def test_calibration_is_read_when_present() -> None:
    data = {
        **FULL,
        "passed": True,
        "calibration": {"streamsPerReplica": 9, "kneeConcurrency": 11.5, "steps": []},
    }
    summary = parse_summary(json.dumps(data))
    assert summary.calibration.streams_per_replica == 9 and summary.calibration.knee_concurrency == 11.5


def test_compact_termination_message_with_missing_keys() -> None:
    summary = parse_summary('{"passed": true, "ttftMs": {"p95": 800}}')
    assert summary is not None and summary.requests is None
    verdict = verdict_from_exit(0, summary, "http://x")
    assert verdict.passed and "TTFT p95 800 ms" in verdict.message


def test_garbage_is_no_summary_but_exit_code_still_decides() -> None:
    for text in (None, "", "not json", "[1,2]", '{"no": "passed"}', b"\xff\xfe"):
        assert parse_summary(text) is None
    assert verdict_from_exit(0, None, "http://x").passed
    assert verdict_from_exit(3, None, "http://x").reason == "TargetUnreachable"
    assert verdict_from_exit(2, None, "http://x").reason == "LoadTestMisconfigured"
    assert verdict_from_exit(137, None, "http://x").reason == "LoadTestFailed"


def test_timeout_is_a_failure() -> None:
    verdict = timed_out(30)
    assert not verdict.passed and verdict.reason == "GateTimedOut" and "30s" in verdict.message
