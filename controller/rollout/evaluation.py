"""The gate's answer-quality check: `chatfleet eval run` arguments from `spec.rollout.evaluation`, and its
verdict from the exit code and the compact JSON verdict it writes (contract: chatfleet.contracts.evaluation).

Parsing is tolerant like the load test's: a message that is not a verdict (a log tail, a half-written
file) still yields a failed verdict with the best message available, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chatfleet.contracts.evaluation import EXIT_NO_VERDICT, EXIT_PASSED, EXIT_THRESHOLD_FAILED
from chatfleet.controller.rollout.termination import json_object
from chatfleet.controller.spec import ChatApplicationSpec, Evaluation

SAMPLE_SET = "sample"  # `chatfleet eval run --set sample`: the set shipped for the packaged corpus
WAIT_FOR_TARGET_SECONDS = 30  # a fresh canary Service needs a few seconds before its endpoints route
_MESSAGE_CAP = 900


@dataclass(frozen=True)
class EvalVerdict:
    """Outcome of the gate's evaluation; `report` is the compact verdict (scores, set digest, prompts)."""

    passed: bool
    reason: str
    message: str
    report: dict[str, Any] | None = None


def eval_args(
    evaluation: Evaluation,
    host: str,
    set_file: str,
    termination_message: str,
    json_file: str | None = None,
    judge_endpoint: str | None = None,
) -> list[str]:
    """`chatfleet eval run` arguments with the spec's thresholds, and the judge when the spec names one
    (`judge_endpoint`: its endpoint, resolved by the caller)."""
    args = [
        "eval", "run",
        "--host", host,
        "--set", set_file,
        "--termination-message", termination_message,
        "--wait-for-target", str(WAIT_FOR_TARGET_SECONDS),
    ]  # fmt: skip
    if json_file:
        args += ["--json", json_file]
    for metric, minimum in sorted(evaluation.thresholds.items()):
        args += ["--min", f"{metric}={minimum:g}"]
    for metric, maximum in sorted(evaluation.max_latency_ms.items()):
        args += ["--max", f"{metric}={maximum:g}"]
    if evaluation.judge_deployment and judge_endpoint:
        args += ["--judge-deployment", evaluation.judge_deployment, "--judge-endpoint", judge_endpoint]
    return args


def judge_endpoint(spec: ChatApplicationSpec) -> str | None:
    """The judge's endpoint when the evaluation names a judge: its own, else the endpoint of the first
    deployment of the app's pool (the app's own Azure OpenAI resource)."""
    evaluation = spec.rollout.evaluation
    if evaluation is None or not evaluation.judge_deployment:
        return None
    return evaluation.judge_endpoint or spec.openai.deployments[0].endpoint


def parse_report(text: str | bytes | None) -> dict[str, Any] | None:
    """The compact verdict in a termination message, or None when the text is not one."""
    data = json_object(text)
    return data if data is not None and isinstance(data.get("passed"), bool) else None


def failed_thresholds(report: dict[str, Any]) -> list[str]:
    """`refusal_accuracy 0.941 (needs >= 1)` for every threshold that did not hold (a judge metric with
    unscored cases says how many: its mean covers only part of the set)."""
    failed = []
    for check in report.get("thresholds") or []:
        if not isinstance(check, dict) or check.get("passed"):
            continue
        actual = check.get("actual")
        shown = "not measured" if not isinstance(actual, int | float) else f"{actual:.3f}"
        sign = "<=" if check.get("bound") == "max" else ">="
        unscored = check.get("unscored")
        also = f"; {unscored} unscored by the judge" if isinstance(unscored, int) and unscored else ""
        failed.append(f"{check.get('metric')} {shown} (needs {sign} {check.get('threshold'):g}{also})")
    return failed


def _error_line(text: str | None) -> str | None:
    """The CLI's one `error:` line in a log tail (the kubelet's FallbackToLogsOnError message)."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    return (errors[-1].removeprefix("error:").strip() if errors else None) or (lines[-1] if lines else None)


def eval_verdict(exit_code: int | None, text: str | None, target: str) -> EvalVerdict:
    """Combines the exit code (authoritative) with the compact verdict (scores, failed thresholds)."""
    report = parse_report(text)
    if exit_code == EXIT_PASSED:  # like the load test's: a lost message does not overturn the exit code
        return EvalVerdict(True, "ThresholdsMet", f"evaluation against {target} met every threshold", report)
    if exit_code == EXIT_THRESHOLD_FAILED and report is not None:
        failed = failed_thresholds(report) or ["a threshold"]
        return EvalVerdict(False, "EvaluationFailed", f"evaluation failed: {'; '.join(failed)}", report)
    if exit_code == EXIT_NO_VERDICT:
        error = (report or {}).get("error") or _error_line(text) or "no reason given"
        message = f"evaluation gave no verdict: {str(error)[:_MESSAGE_CAP]}; check spec.rollout.evaluation"
        return EvalVerdict(False, "EvaluationError", message, None)
    return EvalVerdict(False, "EvaluationFailed", f"evaluation failed (exit code {exit_code})", report)
