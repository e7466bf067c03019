"""Thresholds, averages and comparison of eval reports."""

import pytest

from chatfleet.contracts.evaluation import JUDGE_METRICS, SCORE_METRICS
from chatfleet.eval.compare import compare, render
from chatfleet.eval.report import Threshold, ThresholdError, aggregate, render_table, verdict


def result(
    case_id: str, error: str | None = None, ttft: float | None = 100.0, **scores: float | None
) -> dict:
    metrics: dict[str, float | None] = dict.fromkeys(SCORE_METRICS + JUDGE_METRICS)
    metrics.update(scores)
    return {"id": case_id, "error": error, "ttftMs": ttft, "latencyMs": 500.0, "metrics": metrics}


def test_averages_skip_cases_a_metric_does_not_apply_to() -> None:
    metrics = aggregate(
        [
            result("a", groundedness=1.0, refusal_accuracy=1.0),
            result("b", groundedness=0.5, refusal_accuracy=0.0),
            result("c", groundedness=None, refusal_accuracy=1.0, ttft=300.0),
        ]
    )
    assert metrics["groundedness"] == 0.75
    assert metrics["refusal_accuracy"] == pytest.approx(0.6667)
    assert metrics["correctness"] is None
    assert metrics["ttft_p50_ms"] == 100.0


@pytest.mark.parametrize(
    ("text", "bound", "message"),
    [
        ("groundedness", "min", "expected METRIC=VALUE"),
        ("speed=1", "min", "expected METRIC=VALUE"),
        ("ttft_p95_ms=100", "min", "expected METRIC=VALUE"),
        ("groundedness=high", "min", "'high' is not a number"),
        ("groundedness=1.5", "min", "between 0 and 1"),
        ("ttft_p95_ms=-1", "max", "0 or more"),
    ],
)
def test_bad_thresholds_are_refused(text: str, bound: str, message: str) -> None:
    with pytest.raises(ThresholdError, match=message):
        Threshold.parse(text, bound)


def test_verdict_names_the_failing_metric_and_fails_on_unmeasured() -> None:
    checks = verdict(
        {"groundedness": 0.7, "correctness": None, "ttft_p95_ms": 900.0},
        [
            Threshold.parse("groundedness=0.8", "min"),
            Threshold.parse("correctness=0.1", "min"),
            Threshold.parse("ttft_p95_ms=1000", "max"),
        ],
    )
    assert [c["passed"] for c in checks] == [False, False, True]
    assert checks[0]["message"] == "groundedness 0.700 (needs >= 0.8)"
    assert checks[1]["message"] == "correctness not measured (needs >= 0.1)"


def test_compare_lists_per_case_regressions_and_deltas() -> None:
    base_cases = [result("a", groundedness=1.0, mrr=1.0), result("b", mrr=0.5), result("gone")]
    new_cases = [
        result("a", groundedness=0.5, mrr=1.0),
        result("b", error="HTTP 503", mrr=0.0),
        result("new"),
    ]
    base = {"cases": base_cases, "metrics": aggregate(base_cases)}
    new = {"cases": new_cases, "metrics": aggregate(new_cases)}
    diff = compare(base, new)
    assert {(r["id"], r["metric"]) for r in diff["regressions"]} == {
        ("a", "groundedness"),
        ("b", "error"),
        ("b", "mrr"),
    }
    mrr = next(m for m in diff["metrics"] if m["metric"] == "mrr")
    assert mrr["delta"] == -0.25 and mrr["worse"]
    assert diff["added"] == ["new"] and diff["removed"] == ["gone"]
    text = render(diff)
    assert "a: groundedness 1.000 -> 0.500" in text and "b: now fails: HTTP 503" in text


def test_compare_of_a_run_with_itself_is_clean() -> None:
    cases = [result("a", groundedness=1.0)]
    report = {"cases": cases, "metrics": aggregate(cases)}
    diff = compare(report, report)
    assert diff["regressions"] == [] and not any(m["worse"] for m in diff["metrics"])


def test_the_table_names_the_cases_that_lost_points() -> None:
    cases = [
        result("perfect", groundedness=1.0),
        result("weak", mrr=0.5, correctness=0.25),
        result("broken", error="HTTP 503"),
    ]
    metrics = aggregate(cases)
    checks = verdict(metrics, [Threshold.parse("mrr=0.9", "min")])
    report = {"set": "s", "host": "h", "cases": cases, "metrics": metrics, "thresholds": checks}
    report["passed"] = all(c["passed"] for c in checks)
    table = render_table(report)
    assert "2 cases lost points:" in table
    assert "  weak: mrr 0.500, correctness 0.250" in table and "  broken: HTTP 503" in table
    assert "perfect" not in table
    assert table.endswith("FAILED: mrr 0.500 (needs >= 0.9)")


def test_latency_noise_is_not_worse_but_a_slowdown_is() -> None:
    def run(latency: float) -> dict:
        cases = [result("a", groundedness=1.0)]
        cases[0]["latencyMs"] = latency
        return {"cases": cases, "metrics": aggregate(cases)}

    def worse(base: float, new: float) -> bool:
        rows = compare(run(base), run(new))["metrics"]
        return next(r for r in rows if r["metric"] == "latency_p95_ms")["worse"]

    assert not worse(1000.0, 1050.0)
    assert worse(1000.0, 1200.0)


def test_judge_thresholds_are_on_the_rubric_scale_and_fail_on_unscored_cases() -> None:
    assert Threshold.parse("judge_groundedness=4", "min").value == 4
    with pytest.raises(ThresholdError, match="between 1 and 5"):
        Threshold.parse("judge_relevance=0.8", "min")
    cases = [
        result("a", judge_groundedness=5, judge_relevance=4),
        result("b", judge_groundedness=4, judge_relevance=None),  # relevance unscored by the judge
        result("c", judge_groundedness=None, judge_relevance=None),  # not judged (a right refusal)
    ]
    metrics = aggregate(cases)
    assert metrics["judge_groundedness"] == 4.5 and metrics["judge_relevance"] == 4.0
    thresholds = [Threshold.parse("judge_groundedness=4", "min"), Threshold.parse("judge_relevance=3", "min")]
    checks = verdict(metrics, thresholds, {"judge_groundedness": 0, "judge_relevance": 1})
    assert [c["passed"] for c in checks] == [True, False]
    assert checks[1]["message"] == "judge_relevance 4.000 (needs >= 3; 1 case unscored by the judge)"

    judge = {"deployment": "gpt-4o-judge", "prompts": {"judge_groundedness": "1", "judge_relevance": "1"}}
    judge["unscored"] = [
        {"id": "b", "metric": "judge_relevance", "error": "throttled (HTTP 429) after 3 attempts"}
    ]
    report = {"set": "s", "host": "h", "cases": cases, "metrics": metrics, "thresholds": checks}
    report |= {"judge": judge, "passed": False}
    table = render_table(report)
    assert "judge_relevance           4.000  >= 3  FAILED" in table
    assert "judge: deployment gpt-4o-judge (judge_groundedness@1, judge_relevance@1)" in table
    assert "  b: judge_relevance: throttled (HTTP 429) after 3 attempts" in table
    without = render_table({**report, "judge": None})
    assert "judge_groundedness" not in without.split("\n\n")[1]  # no judge rows without a judge


def test_compare_shows_judge_deltas_and_per_case_drops() -> None:
    base_cases = [result("a", judge_groundedness=5, judge_relevance=4)]
    new_cases = [result("a", judge_groundedness=3, judge_relevance=None)]
    diff = compare(
        {"cases": base_cases, "metrics": aggregate(base_cases)},
        {"cases": new_cases, "metrics": aggregate(new_cases)},
    )
    row = next(m for m in diff["metrics"] if m["metric"] == "judge_groundedness")
    assert row["delta"] == -2 and row["worse"]
    assert {(r["id"], r["metric"]) for r in diff["regressions"]} == {
        ("a", "judge_groundedness"),
        ("a", "judge_relevance"),
    }
    assert "a: judge_groundedness 5.000 -> 3.000" in render(diff)
    plain = [result("a", groundedness=1.0)]
    rows = compare(
        {"cases": plain, "metrics": aggregate(plain)}, {"cases": plain, "metrics": aggregate(plain)}
    )
    assert not any(m["metric"].startswith("judge_") for m in rows["metrics"])
