"""The locustfile of chatfleet's chat SLO scenarios: `locust -f <this file> --scenario NAME ...`.

The same file serves `chatfleet loadtest` (which runs it headless in a subprocess), an SRE's interactive
web UI, and distributed runs (`--master` plus `--worker`s): the master runs the shape, fault injection
and the summary; workers only run users. Its path: `chatfleet loadtest locustfile-path`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from argparse import Namespace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gevent
import httpx
from locust import LoadTestShape, events
from locust.env import Environment
from locust.runners import WorkerRunner

from chatfleet.loadtests.faults import FaultInjectionError, FaultInjector
from chatfleet.loadtests.measurement import measure, measure_steps, progress_line
from chatfleet.loadtests.options import add_arguments, plan_for, slo_from_options
from chatfleet.loadtests.summary import failing, verdicts
from chatfleet.loadtests.users import ChatUser

log = logging.getLogger("chatfleet.loadtests")

__all__ = ["ChatUser", "ScenarioShape"]


class ScenarioShape(LoadTestShape):
    """Users over time as the scenario's schedule says; returns None at the end so the run stops itself."""

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None
        _Run.peak_users = max(_Run.peak_users, self.runner.user_count)
        return plan_for(self.runner.environment).schedule.at(self.get_run_time())


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    add_arguments(parser)


class _Run:
    """Timestamps and fault state of the current test on the process that coordinates it."""

    started_wall: float = 0.0
    started_iso: str = ""
    finished_iso: str = ""
    duration_s: float = 0.0
    peak_users: int = 0
    injector: FaultInjector | None = None
    pending_fault: gevent.Greenlet | None = None
    progress: gevent.Greenlet | None = None
    fault_errors: list[str] = []


def _coordinates(environment: Environment) -> bool:
    return not isinstance(environment.runner, WorkerRunner)


def _options(environment: Environment) -> Namespace:
    """The parsed command line, which the locust command sets before any event (None only for a bare
    Environment, which never loads this file)."""
    if environment.parsed_options is None:
        raise RuntimeError("the chatfleet locustfile runs under the locust command, which parses its options")
    return environment.parsed_options


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    if not _coordinates(environment):
        return
    plan = plan_for(environment)  # validates data files before any user starts
    _Run.started_wall, _Run.started_iso = time.time(), _now_iso()
    _Run.finished_iso, _Run.fault_errors, _Run.peak_users, _Run.injector = "", [], 0, None
    options = _options(environment)
    if options.headless and options.progress_interval > 0:
        _Run.progress = gevent.spawn(_report_progress, environment, options.progress_interval)
    if plan.scenario == "failover" and not plan.calibrating:
        if not options.simulator_admin:
            _Run.fault_errors.append("failover needs --simulator-admin")
            return
        _Run.injector = FaultInjector(options.simulator_admin, options.fault_kind, options.fault_deployment)
        fault_at = plan.schedule.duration * options.fault_at
        # a cold service may not have called any upstream yet: wait for one, at most half of the rest
        wait = (plan.schedule.duration - fault_at) / 2
        _Run.pending_fault = gevent.spawn_later(fault_at, _inject, _Run.injector, wait)


def _report_progress(environment: Environment, interval_s: float) -> None:
    """Headless runs otherwise print nothing until the end (`chatfleet loadtest` passes --only-summary)."""
    while True:
        gevent.sleep(interval_s)
        runner = environment.runner
        users = runner.user_count if runner is not None else 0
        print(
            progress_line(environment.stats, users, time.time() - _Run.started_wall),
            file=sys.stderr,
            flush=True,
        )


def _inject(injector: FaultInjector, wait_s: float) -> None:
    try:
        injector.inject(time.time() - _Run.started_wall, wait_s)
    except (FaultInjectionError, httpx.HTTPError) as error:
        _Run.fault_errors.append(f"fault injection failed: {error}")
        log.error("chatfleet failover: %s", error)


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_: Any) -> None:
    if not _coordinates(environment):
        return
    _Run.finished_iso = _now_iso()
    _Run.duration_s = time.time() - _Run.started_wall
    if _Run.progress is not None:
        _Run.progress.kill()
        _Run.progress = None
    if _Run.pending_fault is not None:
        _Run.pending_fault.kill()  # a run stopped early must not break the upstream after it ended
        _Run.pending_fault = None
    if _Run.injector is not None:
        try:
            _Run.injector.restore()
        except (FaultInjectionError, httpx.HTTPError) as error:
            log.error("chatfleet failover: could not restore the upstream: %s", error)


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    """Final statistics are complete only now (a master has the workers' last reports)."""
    if not _coordinates(environment) or not _Run.started_iso:
        return
    options = _options(environment)
    plan = plan_for(environment)
    result = measure(
        environment.stats,
        started_at=_Run.started_iso,
        finished_at=_Run.finished_iso or _now_iso(),
        duration_s=_Run.duration_s or time.time() - _Run.started_wall,
    )
    result["peakUsers"] = _Run.peak_users
    if plan.scenario == "failover" and not plan.calibrating:
        result["faults"] = {
            "injected": _Run.injector.injected if _Run.injector else [],
            "errors": _Run.fault_errors,
        }
    if plan.calibrating:
        result["steps"] = measure_steps(environment.stats, plan.schedule)
    if options.summary_file:
        Path(options.summary_file).write_text(json.dumps(result, indent=2), encoding="utf-8")
    if not plan.calibrating:
        bad = failing({"verdicts": verdicts(result, slo_from_options(options), plan.scenario)})
        for verdict in bad:
            log.error(
                "SLO %s failed: measured %s, limit %s", verdict["slo"], verdict["measured"], verdict["limit"]
            )
        environment.process_exit_code = 1 if bad else 0
