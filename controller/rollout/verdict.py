"""The one parser of `chatfleet loadtest` results (JSON summary / termination message) and exit codes.

The contract itself (exit codes, summary keys and models) is `chatfleet.contracts.loadtest`, shared with
the load test that writes it; this module turns it into the gate's verdict. Parsing is tolerant: a text
that is not a summary yields None, never an exception, so a half-written message still fails the gate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pydantic import ValidationError

from chatfleet.contracts.loadtest import (
    EXIT_PASSED,
    EXIT_SLO_FAILED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    LoadTestSummary,
    figure,
)
from chatfleet.controller.rollout.evaluation import EvalVerdict
from chatfleet.controller.rollout.termination import json_object

EXIT_REASONS = {
    EXIT_SLO_FAILED: "SLOFailed",
    EXIT_USAGE: "LoadTestMisconfigured",
    EXIT_UNREACHABLE: "TargetUnreachable",
}


def parse_summary(text: str | bytes | None) -> LoadTestSummary | None:
    """The summary in a JSON document, or None when the text is empty or not a summary."""
    data = json_object(text)
    if data is None:
        return None
    try:
        return LoadTestSummary.model_validate(data)
    except ValidationError:
        return None


@dataclass(frozen=True)
class GateVerdict:
    """Outcome of one gate run. `passed`, `reason`, `message` and `summary` are the load test's (they drive
    LoadTestPassed); `evaluation` is the answer-quality check's when one is configured. The gate passes
    only when both do: `failure()` is what failed, load test first."""

    passed: bool
    reason: str
    message: str
    summary: LoadTestSummary | None = None
    evaluation: EvalVerdict | None = None

    def failure(self) -> tuple[str, str] | None:
        """(reason, message) of the failed gate, both failures named; None when the gate passed."""
        failed = [(self.reason, self.message)] if not self.passed else []
        if self.evaluation is not None and not self.evaluation.passed:
            failed.append((self.evaluation.reason, self.evaluation.message))
        if not failed:
            return None
        return failed[0][0], "; ".join(message for _, message in failed)

    def summary_message(self) -> str:
        """What passed, for the promotion event."""
        parts = [self.message] + ([self.evaluation.message] if self.evaluation is not None else [])
        return "; ".join(parts)


def with_evaluation(load_test: GateVerdict, evaluation: EvalVerdict | None) -> GateVerdict:
    """The gate's verdict: the load test's, joined by the evaluation's (None: no evaluation configured)."""
    return replace(load_test, evaluation=evaluation)


def verdict_from_exit(exit_code: int | None, summary: LoadTestSummary | None, target: str) -> GateVerdict:
    """Combines the exit code (authoritative) with the summary (the figures and the failing SLO)."""
    if exit_code == EXIT_PASSED:
        figures = _figures(summary)
        return GateVerdict(True, "SLOsMet", f"load test against {target} met every SLO{figures}", summary)
    reason = EXIT_REASONS.get(exit_code or -1, "LoadTestFailed")
    if reason == "SLOFailed" and summary and summary.failed_slo():
        message = f"SLO failed: {summary.failed_slo()}"
    elif reason == "TargetUnreachable":
        message = f"load test could not reach the candidate at {target}"
    elif reason == "LoadTestMisconfigured" and summary and summary.error:
        message = f"load test could not start: {summary.error}"  # e.g. its token source refused
    elif reason == "LoadTestMisconfigured":
        message = "load test rejected its arguments (exit 2); check spec.rollout.loadTest"
    else:
        message = f"load test failed (exit code {exit_code})"
    return GateVerdict(False, reason, message, summary)


def timed_out(timeout_seconds: int) -> GateVerdict:
    return GateVerdict(
        False,
        "GateTimedOut",
        f"gate (load test and evaluation) did not finish within gateTimeout ({timeout_seconds}s)",
        None,
    )


def canary_not_available(revision: str, timeout_seconds: int) -> GateVerdict:
    """The gate never started: the candidate's canary had no available pod within the gate timeout."""
    return GateVerdict(
        False,
        "CanaryNotAvailable",
        f"the canary of revision {revision} had no available pod within gateTimeout ({timeout_seconds}s); "
        "its pods' events say why (kubectl describe deployment <app>-canary)",
        None,
    )


def canary_failed(revision: str, why: str) -> GateVerdict:
    """The gate never started: the candidate's canary pods cannot start (rollout/canary.py says why)."""
    return GateVerdict(
        False, "CanaryFailedToStart", f"the canary of revision {revision} cannot start: {why}", None
    )


def _figures(summary: LoadTestSummary | None) -> str:
    if summary is None or summary.ttft_ms.p95 is None:
        return ""
    return f" (TTFT p95 {figure(summary.ttft_ms.p95)} ms, error rate {figure(summary.error_rate_percent)}%)"
