"""Schedules end by themselves; spike is a sudden x5; calibration labels only the settled part of a step."""

from chatfleet.loadtests.schedule import calibration_steps, for_scenario, step_name


def test_steady_holds_users_then_ends() -> None:
    schedule = for_scenario("steady", 10, 2.0, 30, factor=5)
    assert schedule.at(0) == (10, 2.0)
    assert schedule.at(29.9) == (10, 2.0)
    assert schedule.at(30) is None


def test_spike_is_five_times_the_users_in_the_middle_third_started_at_once() -> None:
    schedule = for_scenario("spike", 4, 1.0, 30, factor=5)
    assert schedule.at(5) == (4, 1.0)
    users, rate = schedule.at(15)  # type: ignore[misc]
    assert users == 20
    assert rate >= 16  # all 16 extra users within a second
    assert schedule.at(25)[0] == 4  # type: ignore[index]
    assert schedule.at(31) is None


def test_missing_run_time_still_ends() -> None:
    assert for_scenario("steady", 1, 1.0, None, factor=5).duration == 60.0


def test_calibration_steps_and_labels() -> None:
    schedule = calibration_steps(8, 10.0)
    assert schedule.step_users == (1, 2, 3, 4, 5, 6, 7, 8)
    assert schedule.duration == 80.0
    assert schedule.at(15)[0] == 2  # type: ignore[index]
    assert schedule.step_label(11.0) is None  # ramp of step 2
    assert schedule.step_label(14.0) == step_name(2)
    assert schedule.step_label(79.0) == step_name(8)
    assert schedule.step_label(80.0) is None
