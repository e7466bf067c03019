"""The eval verdict in a termination message: valid JSON below 4096 bytes, verdict and numbers kept."""

import json

from chatfleet.contracts.evaluation import SCORE_METRICS
from chatfleet.eval.report import ALL_METRICS, Threshold, verdict
from chatfleet.eval.termination import LIMIT_BYTES, termination_message


def report(deployments: int = 1, name_chars: int = 10) -> dict:
    metrics = dict.fromkeys(ALL_METRICS, 0.5)
    checks = verdict(metrics, [Threshold.parse(f"{m}=0.9", "min") for m in SCORE_METRICS])
    return {
        "set": "s" * 500,
        "setSha256": "ab" * 32,
        "host": "http://canary:8000",
        "passed": False,
        "metrics": metrics,
        "thresholds": checks,
        "promptVersions": {"answer": "2", "query_rewrite": "1"},
        "deployments": [f"{i}-" + "d" * name_chars for i in range(deployments)],
        "cases": [{"id": "a", "error": None}, {"id": "b", "error": "HTTP 503"}],
    }


def test_keeps_the_verdict_metrics_and_what_was_evaluated() -> None:
    message = json.loads(termination_message(report()))
    assert message["passed"] is False and message["cases"] == 2 and message["failedCases"] == 1
    assert message["metrics"]["groundedness"] == 0.5
    assert {t["metric"] for t in message["thresholds"] if not t["passed"]} == set(SCORE_METRICS)
    assert message["promptVersions"] == {"answer": "2", "query_rewrite": "1"}
    assert message["setSha256"] == "ab" * 32 and len(message["set"]) < 130


def test_stays_below_the_kubelet_limit_by_shedding_names() -> None:
    text = termination_message(report(deployments=400, name_chars=2000))
    assert len(text.encode()) < LIMIT_BYTES
    message = json.loads(text)
    assert len(message["deployments"]) == 10 and message["metrics"]["mrr"] == 0.5
    tight = json.loads(termination_message(report(deployments=10, name_chars=60), limit=1500))
    assert "deployments" not in tight and tight["passed"] is False and "thresholds" in tight


def test_no_verdict_is_an_error_message() -> None:
    assert json.loads(termination_message({"error": "x" * 5000})) == {
        "passed": False,
        "error": "x" * 1000 + "...",
    }
