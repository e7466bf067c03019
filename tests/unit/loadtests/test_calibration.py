"""The knee: where TTFT p95 crosses the SLO, interpolated between steps; the recommendation keeps headroom."""

import pytest

from chatfleet.contracts.loadtest import Slo
from chatfleet.loadtests.calibration import find_knee, plan_steps
from chatfleet.loadtests.summary import render_calibration

SLO = Slo(ttft_p95_ms=1000, error_rate_percent=1, min_tokens_per_second=10)


def step(users: int, p95: float | None, error_rate: float | None = 0.0) -> dict:
    return {"users": users, "ttftP95Ms": p95, "errorRatePercent": error_rate, "requestsPerSecond": 1.0}


def test_steps_are_evenly_spaced_and_end_at_max() -> None:
    assert plan_steps(40) == [5, 10, 15, 20, 25, 30, 35, 40]
    assert plan_steps(3) == [1, 2, 3]
    with pytest.raises(ValueError, match="at least 1"):
        plan_steps(0)


def test_knee_is_interpolated_between_last_good_and_first_bad_step() -> None:
    result = find_knee([step(10, 400), step(20, 800), step(30, 1200), step(40, 1600)], SLO)
    assert result["kneeFound"] is True
    assert result["kneeConcurrency"] == 25.0
    assert result["streamsPerReplica"] == 20  # floor(25 * 0.8)
    assert "between 20 and 30 users" in result["method"]


def test_error_rate_crossing_is_a_knee_too() -> None:
    result = find_knee([step(10, 300), step(20, 350, error_rate=5.0)], SLO)
    assert result["kneeConcurrency"] == 10.0
    assert result["streamsPerReplica"] == 8


def test_no_knee_recommends_below_the_highest_step() -> None:
    result = find_knee([step(5, 100), step(10, 150)], SLO, headroom=0.5)
    assert result["kneeFound"] is False
    assert result["kneeConcurrency"] is None
    assert result["streamsPerReplica"] == 5


def test_knee_at_first_step_never_recommends_zero() -> None:
    result = find_knee([step(1, 5000), step(2, 9000)], SLO)
    assert result["kneeConcurrency"] == 1.0
    assert result["streamsPerReplica"] == 1


def test_step_without_answers_counts_as_crossed() -> None:
    assert find_knee([step(4, 200), step(8, None, None)], SLO)["kneeConcurrency"] == 4.0


def test_calibration_table_names_the_knee_and_recommendation() -> None:
    result = find_knee([step(10, 400), step(20, 800), step(30, 1200)], SLO)
    text = render_calibration(result)
    assert "knee at 25.0 concurrent streams -> streamsPerReplica 20" in text
    assert "1200" in text
