"""The termination message stays valid JSON under the kubelet's 4096-byte cut, with the summary's keys."""

import json

from chatfleet.contracts.loadtest import SUMMARY_KEYS, LoadTestSummary, Slo
from chatfleet.loadtests.summary import build_summary
from chatfleet.loadtests.termination import LIMIT_BYTES, termination_message


def big_summary(leaks: int, steps: int, host_chars: int) -> dict:
    measurement = {
        "startedAt": "2026-11-24T19:00:00Z",
        "finishedAt": "2026-11-24T19:01:00Z",
        "durationSeconds": 60.0,
        "requests": 10_000,
        "failures": leaks,
        "outputTokens": 1_000_000,
        "ttftMs": {"p50": 1.0, "p90": 2.0, "p95": 3.0, "p99": 4.0},
        "latencyMs": {"p50": 1.0, "p95": 2.0, "p99": 3.0},
        "streamTokensPerSecond": {"p10": 50.0, "p50": 60.0},
        "failuresByKind": {f"http {500 + i}": i for i in range(50)},
        "tenantLeaks": {
            "count": leaks,
            "examples": [f"contoso user was shown doc-{i}.md" * 3 for i in range(leaks)],
        },
    }
    summary = build_summary(
        measurement,
        Slo(1000, 1, 10),
        scenario="multi-tenant",
        host="http://" + "h" * host_chars,
        users=50,
        run_time_seconds=60,
    )
    summary["calibration"] = {
        "maxUsers": 400,
        "steps": [{"users": i, "ttftP95Ms": 100.0 + i, "requestsPerSecond": 1.0 * i} for i in range(400)],
        "kneeConcurrency": 123.4,
        "streamsPerReplica": 98,
        "method": "interpolated",
    }
    summary["error"] = "e" * 10_000
    return summary


def test_huge_summary_is_compacted_below_the_limit_keeping_every_key() -> None:
    summary = big_summary(leaks=500, steps=400, host_chars=5000)
    assert len(json.dumps(summary)) > 3 * LIMIT_BYTES
    text = termination_message(summary)
    assert len(text.encode()) < LIMIT_BYTES
    compact = json.loads(text)
    assert set(SUMMARY_KEYS) <= set(compact)
    assert compact["passed"] is False
    assert compact["verdicts"] == summary["verdicts"]
    assert compact["calibration"]["streamsPerReplica"] == 98
    assert compact["calibration"]["kneeConcurrency"] == 123.4


def test_small_summary_is_kept_whole_without_detail_fields() -> None:
    summary = big_summary(leaks=0, steps=0, host_chars=10)
    summary.pop("error")
    summary["calibration"]["steps"] = summary["calibration"]["steps"][:5]
    compact = json.loads(termination_message(summary))
    assert compact["host"] == summary["host"]
    assert compact["calibration"]["steps"] == summary["calibration"]["steps"]
    assert "tenantLeaks" not in compact  # detail lives in the --json file only


def test_the_operator_reads_only_keys_the_termination_message_keeps() -> None:
    """Every field the gate's summary model reads survives the compaction (or is added beside it)."""
    read = {field.alias or name for name, field in LoadTestSummary.model_fields.items()}
    assert read <= {*SUMMARY_KEYS, "calibration", "error"}
