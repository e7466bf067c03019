"""The gated-rollout state machine, as a pure function of (spec, status, verdict, now).

States live in `status.rollout.phase`: Idle (stable serves the current revision), Testing (a canary of
the candidate is being load-tested), Baking (the candidate was promoted and its live SLOs are watched for
`spec.rollout.bake.duration`; a breach rolls back to the previous revision), Failed (the candidate failed
its gate or its bake; stable keeps serving the revision before it until the spec changes). The reconciler
applies the returned plan: it renders with the new status (which adds or drops the canary plane),
starts/cancels runs and posts the events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from chatfleet.contracts.loadtest import LoadTestSummary
from chatfleet.controller.cel import parse_duration
from chatfleet.controller.rollout.bake import BakeReading, breach
from chatfleet.controller.rollout.evaluation import EvalVerdict, failed_thresholds
from chatfleet.controller.rollout.verdict import GateVerdict, canary_failed, canary_not_available, timed_out
from chatfleet.controller.spec import (
    ChatApplication,
    ChatApplicationStatus,
    EvaluationStatus,
    LoadTestStatus,
    RevisionStatus,
    RolloutStatus,
    ScalingStatus,
)


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass
class Plan:
    """What the reconciler must do, and the status it should then write."""

    status: ChatApplicationStatus
    start_run: str | None = None
    cancel_runs: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    verdict: GateVerdict | None = None  # outcome decided in this step (drives the LoadTestPassed condition)
    bake_failure: str | None = None  # the breach that rolled a promoted revision back in this step


# (revision, window) -> the revision's live figures; None when no metrics source is configured.
Observe = Callable[[str, str], BakeReading | None]


def run_name(app: ChatApplication, revision: str) -> str:
    """Unique per revision and generation, so re-testing a revision never reads an old Job's verdict."""
    return f"{app.metadata.name}-gate-{revision}-{app.metadata.generation or 0}"


def _load_test_status(revision: str, verdict: GateVerdict, now: datetime) -> LoadTestStatus:
    s: LoadTestSummary | None = verdict.summary
    return LoadTestStatus(
        revision=revision,
        passed=verdict.passed,
        scenario=s.scenario if s else None,
        requests=s.requests if s else None,
        ttft_p50_ms=s.ttft_ms.p50 if s else None,
        ttft_p95_ms=s.ttft_ms.p95 if s else None,
        ttft_p99_ms=s.ttft_ms.p99 if s else None,
        error_rate_percent=s.error_rate_percent if s else None,
        requests_per_second=s.requests_per_second if s else None,
        tokens_per_second=s.tokens_per_second if s else None,
        failed_slo=None if verdict.passed else (s.failed_slo() if s else None) or verdict.message,
        started_at=s.started_at if s else None,
        finished_at=(s.finished_at if s and s.finished_at else now),
    )


def _evaluation_status(revision: str, verdict: EvalVerdict, now: datetime) -> EvaluationStatus:
    """The scores and what was evaluated, from the eval's compact verdict (empty when it gave none)."""
    report = verdict.report or {}
    metrics = report.get("metrics") or {}
    failed = failed_thresholds(report)
    judge = report.get("judge")
    if not isinstance(judge, dict):
        judge = {}
    return EvaluationStatus(
        revision=revision,
        passed=verdict.passed,
        scores={k: v for k, v in metrics.items() if isinstance(v, int | float)},
        failed_metric=None if verdict.passed else (failed[0] if failed else verdict.message),
        set_sha256=report.get("setSha256"),
        cases=report.get("cases"),
        failed_cases=report.get("failedCases"),
        prompt_versions=report.get("promptVersions") or {},
        deployments=report.get("deployments") or [],
        judge_deployment=judge.get("deployment"),
        judge_prompt_versions=judge.get("prompts") or {},
        judge_unscored=judge.get("unscored"),
        finished_at=now,
    )


def _calibrated(
    revision: str, verdict: GateVerdict, now: datetime, previous: ScalingStatus | None
) -> ScalingStatus | None:
    calibration = verdict.summary.calibration if verdict.summary else None
    if calibration is None or not calibration.streams_per_replica:
        return previous
    return ScalingStatus(
        streams_per_replica=calibration.streams_per_replica,
        source="calibrated",
        knee_concurrency=calibration.knee_concurrency,
        calibrated_at=now,
        revision=revision,
    )


def plan(
    app: ChatApplication,
    spec_revision: str,
    poll: Callable[[str], GateVerdict | None],
    now: datetime,
    inputs_digest: str = "",
    observe: Observe | None = None,
    candidate_ready: bool = True,
    candidate_failure: str | None = None,
) -> Plan:
    """One step of the machine. `poll(run_name)` is only called while the candidate is being tested,
    `observe` only while a promoted revision bakes (None: the operator has no Prometheus to ask).

    `candidate_ready`: the candidate's canary Deployment is available. The gate's run starts only then (a
    load test against a canary whose pods still start would measure refused connections); the gate
    timeout counts from the start of Testing, so a canary that never becomes available fails the gate.
    `candidate_failure`: why the canary's pods cannot start (a crash loop, an image or config error); it
    fails the gate at once, naming the cause, instead of at the timeout.

    `inputs_digest` (referenced ConfigMaps' content, part of `spec_revision`) is recorded on promotion so
    the stable Deployment keeps rendering the promoted revision's while a newer one is gated."""
    old = app.status
    status = old.model_copy(deep=True)
    rev, ro = status.revision, status.rollout
    # only what differs from the defaults: the status stays small (kopf keeps every body in memory)
    spec_dump = app.spec.model_dump(by_alias=True, mode="json", exclude_defaults=True)
    result = Plan(status=status)

    bake = app.spec.rollout.bake

    def promote(message: str) -> None:
        status.revision = RevisionStatus(
            current=spec_revision,
            candidate=None,
            stable_spec=spec_dump,
            inputs_digest=inputs_digest or None,
            previous=rev.current,
            previous_spec=rev.stable_spec if rev.current else None,
            previous_inputs_digest=rev.inputs_digest if rev.current else None,
        )
        if bake is None or rev.current is None:
            status.rollout = RolloutStatus(phase="Idle", message=message)
        elif observe is None:
            status.rollout = RolloutStatus(phase="Idle", message=f"{message}; not baked: no Prometheus")
            result.events.append(
                Event(
                    "Warning",
                    "BakeSkipped",
                    f"revision {spec_revision} is not baked: the operator has no Prometheus URL "
                    "(CHATFLEET_OPERATOR_PROMETHEUS_URL, chart value operator.prometheusUrl)",
                )
            )
        else:
            status.rollout = RolloutStatus(
                phase="Baking", started_at=now, message=f"{message}; baking for {bake.duration}"
            )

    def cancel_running() -> None:
        if ro.phase == "Testing" and ro.run:
            result.cancel_runs.append(ro.run)

    if rev.current is None:
        promote(f"first revision {spec_revision} deployed")
        result.events.append(Event("Normal", "Deployed", f"revision {spec_revision} deployed"))
        return result
    if ro.phase == "Baking" and spec_revision == rev.current:
        _bake_step(app, status, result, observe, now)
        return result
    if spec_revision == rev.current:
        if ro.phase != "Idle":
            cancel_running()
            status.revision = RevisionStatus(
                current=rev.current, stable_spec=spec_dump, inputs_digest=rev.inputs_digest
            )
            status.rollout = RolloutStatus(phase="Idle", message=f"spec returned to revision {rev.current}")
            if ro.phase == "Testing":
                result.events.append(
                    Event(
                        "Normal",
                        "GateSuperseded",
                        f"gate of {rev.candidate} dropped: spec is back at {rev.current}",
                    )
                )
        else:
            rev.stable_spec = spec_dump  # non-pod fields (scaling, network) may change without a revision
        return result
    if app.spec.rollout.strategy == "Immediate":
        cancel_running()
        promote(f"revision {spec_revision} rolled out without a gate (strategy Immediate)")
        result.events.append(Event("Normal", "RolledOut", f"revision {spec_revision} rolled out (Immediate)"))
        return result

    testing = "load-testing and evaluating" if app.spec.rollout.evaluation else "load-testing"
    if ro.phase == "Testing" and rev.candidate == spec_revision:
        timeout = parse_duration(app.spec.rollout.gate_timeout) or 0
        if ro.run is None and candidate_ready:
            _start_run(app, spec_revision, status, result, testing)
            return result
        verdict = poll(ro.run) if ro.run else None
        if verdict is None and ro.run is None and candidate_failure:
            verdict = canary_failed(spec_revision, candidate_failure)
        if verdict is None and ro.started_at and (now - ro.started_at).total_seconds() > timeout:
            verdict = timed_out(timeout) if ro.run else canary_not_available(spec_revision, timeout)
        if verdict is None:
            return result
        if ro.run:
            result.cancel_runs.append(ro.run)
        result.verdict = verdict
        status.load_test = _load_test_status(spec_revision, verdict, now)
        if verdict.evaluation is not None:
            status.evaluation = _evaluation_status(spec_revision, verdict.evaluation, now)
        failure = verdict.failure()
        if failure is None:
            status.scaling = _calibrated(spec_revision, verdict, now, old.scaling)
            promote(verdict.summary_message())
            result.events.append(
                Event("Normal", "Promoted", f"revision {spec_revision} promoted: {verdict.summary_message()}")
            )
        else:
            status.rollout = RolloutStatus(phase="Failed", run=None, message=failure[1])
            result.events.append(
                Event("Warning", "RolledBack", f"revision {spec_revision} rolled back: {failure[1]}")
            )
        return result
    if ro.phase == "Failed" and rev.candidate == spec_revision:
        return result  # stays rolled back until the spec changes

    if ro.phase == "Testing" and rev.candidate and rev.candidate != spec_revision:
        cancel_running()
        result.events.append(
            Event(
                "Normal", "GateSuperseded", f"gate of {rev.candidate} superseded by revision {spec_revision}"
            )
        )
    status.revision = RevisionStatus(
        current=rev.current,
        candidate=spec_revision,
        stable_spec=rev.stable_spec,
        inputs_digest=rev.inputs_digest,
    )
    status.rollout = RolloutStatus(
        phase="Testing", started_at=now, message=f"starting the canary of revision {spec_revision}"
    )
    if candidate_ready:
        _start_run(app, spec_revision, status, result, testing)
    return result


def _start_run(
    app: ChatApplication, spec_revision: str, status: ChatApplicationStatus, result: Plan, testing: str
) -> None:
    """The gate's run starts: its name goes into the status, the reconciler starts it."""
    name = run_name(app, spec_revision)
    status.rollout.run = name
    status.rollout.message = f"{testing} revision {spec_revision}"
    result.start_run = name
    result.events.append(Event("Normal", "GateStarted", f"{testing} revision {spec_revision} ({name})"))


def _bake_step(
    app: ChatApplication, status: ChatApplicationStatus, result: Plan, observe: Observe | None, now: datetime
) -> None:
    """Judge the promoted revision's live window; roll back on a breach, end the bake when it has lasted."""
    rev, ro, bake = status.revision, status.rollout, app.spec.rollout.bake
    if bake is None or observe is None or rev.current is None:
        status.rollout = RolloutStatus(phase="Idle", message=f"revision {rev.current} promoted; bake off")
        return
    broken = breach(observe(rev.current, bake.window), app.spec.rollout.load_test.slo, bake)
    if broken is not None and rev.previous and rev.previous_spec:
        message = f"revision {rev.current} rolled back to {rev.previous} during its bake: {broken}"
        status.revision = RevisionStatus(
            current=rev.previous,
            candidate=rev.current,
            stable_spec=rev.previous_spec,
            inputs_digest=rev.previous_inputs_digest,
        )
        status.rollout = RolloutStatus(phase="Failed", message=message)
        result.bake_failure = message
        result.events.append(Event("Warning", "RolledBack", message))
        return
    started = ro.started_at or now
    if (now - started).total_seconds() >= (parse_duration(bake.duration) or 0):
        status.rollout = RolloutStatus(
            phase="Idle", message=f"revision {rev.current} baked for {bake.duration}"
        )
        result.events.append(
            Event("Normal", "Baked", f"revision {rev.current} held its SLOs for {bake.duration}")
        )
