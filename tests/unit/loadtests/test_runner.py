"""The Locust subprocess gets the scenario, SLOs and bounds; tokens never appear on its command line."""

from pathlib import Path

from chatfleet.contracts.loadtest import Slo
from chatfleet.loadtests.runner import (
    LoadTest,
    calibration_args,
    calibration_seconds,
    locustfile_path,
    scenario_args,
)

TEST = LoadTest(
    host="http://127.0.0.1:8000",
    scenario="failover",
    users=7,
    spawn_rate=2.5,
    run_time_s=90,
    slo=Slo(1500, 1, 20),
    tenants=("contoso", "fabrikam"),
    simulator_admin="http://127.0.0.1:8090",
    fault_kind="throttle",
    calibrate_max_users=16,
    calibrate_step_s=5,
    token="secret-token",
)


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_scenario_run_is_headless_bounded_and_carries_the_slos(tmp_path: Path) -> None:
    args = scenario_args(TEST, tmp_path / "m.json")
    assert flag(args, "-f") == str(locustfile_path())
    assert "--headless" in args
    assert flag(args, "--run-time") == "90s"
    assert flag(args, "--users") == "7"
    assert flag(args, "--scenario") == "failover"
    assert flag(args, "--tenants") == "contoso,fabrikam"
    assert flag(args, "--simulator-admin") == "http://127.0.0.1:8090"
    assert flag(args, "--fault-kind") == "throttle"
    assert flag(args, "--slo-ttft-p95-ms") == "1500"
    assert "secret-token" not in " ".join(args)


def test_calibration_run_steps_up_to_max_users(tmp_path: Path) -> None:
    args = calibration_args(TEST, tmp_path / "c.json")
    assert flag(args, "--calibrate-max-users") == "16"
    assert "--run-time" not in args  # the stepped schedule ends the run
    assert flag(args, "--stop-timeout") == "10"  # the last step's answers finish
    assert calibration_seconds(TEST) == 8 * 5 + 10
    assert "secret-token" not in " ".join(args)
