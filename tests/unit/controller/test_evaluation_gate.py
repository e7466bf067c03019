"""The quality gate: the eval's verdict, how it combines with the load test's, and what the status says."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chatfleet.controller import naming as n
from chatfleet.controller.loading import parse_application
from chatfleet.controller.render import revision
from chatfleet.controller.rollout.evaluation import EvalVerdict, eval_verdict, judge_endpoint
from chatfleet.controller.rollout.job_runner import EVAL_CONTAINER, job_manifest
from chatfleet.controller.rollout.local_runner import LocalProcessRunner
from chatfleet.controller.rollout.machine import plan
from chatfleet.controller.rollout.runner import GateRun
from chatfleet.controller.rollout.verdict import GateVerdict, with_evaluation
from chatfleet.controller.spec import ChatApplication, Evaluation
from chatfleet.controller.status import observed_status
from chatfleet.eval.report import Threshold, verdict
from chatfleet.eval.termination import termination_message

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
TARGET = "http://bot-canary.ns.svc:8000"
EVALUATION = {
    "set": {"configMapRef": "bot-evals", "key": "cases.jsonl"},
    "thresholds": {"refusal_accuracy": 1.0},
}
LOAD_OK = GateVerdict(True, "SLOsMet", "load test met every SLO", None)
LOAD_FAILED = GateVerdict(False, "SLOFailed", "SLO failed: ttftP95Ms: measured 2130, limit 1500", None)
DEPLOYMENT = {
    "metadata": {"generation": 1},
    "status": {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2, "updatedReplicas": 2},
}


def eval_message(refusal_accuracy: float, minimum: float = 1.0) -> str:
    """A termination message written by the eval package itself, so the operator reads the real contract."""
    metrics: dict[str, Any] = {"correctness": 0.97, "groundedness": 1.0, "refusal_accuracy": refusal_accuracy}
    thresholds = verdict(metrics, [Threshold.parse(f"refusal_accuracy={minimum:g}", "min")])
    report = {
        "set": "/etc/chatfleet/eval-set/eval-set.jsonl",
        "setSha256": "ab" * 32,
        "host": TARGET,
        "passed": all(t["passed"] for t in thresholds),
        "cases": [{"error": None}] * 17,
        "metrics": metrics,
        "thresholds": thresholds,
        "promptVersions": {"answer": "3", "system": "1"},
        "deployments": ["gpt-4o"],
    }
    return termination_message(report)


def test_a_passing_eval_passes() -> None:
    result = eval_verdict(0, eval_message(1.0), TARGET)
    assert result.passed and result.reason == "ThresholdsMet"
    assert result.report is not None and result.report["setSha256"] == "ab" * 32


def test_a_failed_threshold_names_metric_value_and_threshold() -> None:
    result = eval_verdict(1, eval_message(0.941), TARGET)
    assert not result.passed and result.reason == "EvaluationFailed"
    assert result.message == "evaluation failed: refusal_accuracy 0.941 (needs >= 1)"


def test_no_verdict_reads_the_error_line_of_a_log_tail() -> None:
    tail = "loading...\nerror: /etc/chatfleet/eval-set/eval-set.jsonl:3: not JSON (Expecting value)\n"
    result = eval_verdict(2, tail, TARGET)
    assert result.reason == "EvaluationError" and "eval-set.jsonl:3: not JSON" in result.message
    unreachable = eval_verdict(2, '{"passed":false,"error":"cannot reach http://x"}', TARGET)
    assert "cannot reach http://x" in unreachable.message


def test_exit_code_is_authoritative_over_a_message() -> None:
    killed = eval_verdict(137, eval_message(1.0), TARGET)
    assert not killed.passed and "exit code 137" in killed.message
    lost = eval_verdict(0, None, TARGET)
    assert lost.passed and lost.report is None, "exit 0 is the verdict even when the message was lost"
    assert not eval_verdict(1, "not json", TARGET).passed


@pytest.mark.parametrize(
    ("load_test", "evaluation", "failure"),
    [
        (LOAD_OK, None, None),
        (LOAD_OK, EvalVerdict(True, "ThresholdsMet", "ok"), None),
        (LOAD_OK, EvalVerdict(False, "EvaluationFailed", "evaluation failed: mrr 0.5 (needs >= 0.9)"),
         ("EvaluationFailed", "evaluation failed: mrr 0.5 (needs >= 0.9)")),
        (LOAD_FAILED, EvalVerdict(True, "ThresholdsMet", "ok"), ("SLOFailed", LOAD_FAILED.message)),
        (LOAD_FAILED, EvalVerdict(False, "EvaluationFailed", "evaluation failed: mrr 0.5 (needs >= 0.9)"),
         ("SLOFailed", f"{LOAD_FAILED.message}; evaluation failed: mrr 0.5 (needs >= 0.9)")),
    ],
)  # fmt: skip
def test_the_gate_passes_only_when_both_pass(
    load_test: GateVerdict, evaluation: EvalVerdict | None, failure: tuple[str, str] | None
) -> None:
    assert with_evaluation(load_test, evaluation).failure() == failure


@pytest.fixture
def app(make_app) -> ChatApplication:
    doc = make_app(
        {
            "metadata": {"name": "bot", "namespace": "ns", "uid": "u", "generation": 1},
            "spec": {"rollout": {"evaluation": EVALUATION}},
        }
    )
    return parse_application(doc)


def gate(app: ChatApplication, result: GateVerdict):
    """Deploys the first revision, starts a gate for a new image, then lets the gate report `result`."""
    app.status = plan(app, revision("bot", app.spec), lambda _: None, T0).status
    stable = app.status.revision.current
    app.spec.image = "registry.example/chat:2.0.0"
    app.status = plan(app, revision("bot", app.spec), lambda _: None, T0).status
    step = plan(app, revision("bot", app.spec), lambda _: result, T0)
    return stable, step


def test_the_gate_says_it_evaluates(app: ChatApplication) -> None:
    app.status = plan(app, revision("bot", app.spec), lambda _: None, T0).status
    app.spec.image = "registry.example/chat:2.0.0"
    started = plan(app, revision("bot", app.spec), lambda _: None, T0)
    assert started.status.rollout.message.startswith("load-testing and evaluating revision")


def test_a_failing_eval_rolls_back_like_an_slo_failure(app: ChatApplication) -> None:
    failed_eval = eval_verdict(1, eval_message(0.941), TARGET)
    stable, step = gate(app, with_evaluation(LOAD_OK, failed_eval))
    assert step.status.rollout.phase == "Failed" and step.status.revision.current == stable
    assert [(e.type, e.reason) for e in step.events] == [("Warning", "RolledBack")]
    evaluation = step.status.evaluation
    assert evaluation is not None and evaluation.passed is False
    assert evaluation.failed_metric == "refusal_accuracy 0.941 (needs >= 1)"
    assert evaluation.scores["refusal_accuracy"] == 0.941 and evaluation.set_sha256 == "ab" * 32
    assert evaluation.prompt_versions == {"answer": "3", "system": "1"} and evaluation.deployments == [
        "gpt-4o"
    ]
    assert evaluation.cases == 17 and evaluation.revision == step.status.revision.candidate

    app.status = step.status
    conds = {c.type: c for c in observed_status(app, step, DEPLOYMENT, None, T0).conditions}
    assert conds["Degraded"].status == "True" and conds["Degraded"].reason == "EvaluationFailed"
    assert "refusal_accuracy 0.941 (needs >= 1)" in conds["Degraded"].message
    assert (
        conds["EvaluationPassed"].status == "False" and conds["EvaluationPassed"].reason == "EvaluationFailed"
    )
    assert conds["LoadTestPassed"].status == "True", "the load test itself passed"


def test_both_passing_promote_and_record_the_scores(app: ChatApplication) -> None:
    passed_eval = eval_verdict(0, eval_message(1.0), TARGET)
    _, step = gate(app, with_evaluation(LOAD_OK, passed_eval))
    assert step.status.rollout.phase == "Idle" and step.status.revision.candidate is None
    assert step.status.evaluation is not None and step.status.evaluation.passed is True
    assert step.status.evaluation.failed_metric is None
    assert "met every threshold" in step.events[0].message
    app.status = step.status
    conds = {c.type: c for c in observed_status(app, step, DEPLOYMENT, None, T0).conditions}
    assert conds["EvaluationPassed"].status == "True" and conds["Degraded"].status == "False"


def test_evaluation_condition_without_an_evaluation(make_app) -> None:
    app = parse_application(make_app({"metadata": {"name": "bot", "namespace": "ns", "generation": 1}}))
    step = plan(app, revision("bot", app.spec), lambda _: None, T0)
    conds = {c.type: c for c in observed_status(app, step, DEPLOYMENT, None, T0).conditions}
    assert conds["EvaluationPassed"].status == "Unknown"
    assert conds["EvaluationPassed"].message == "no evaluation configured (spec.rollout.evaluation)"


def test_an_ungated_app_says_its_evaluation_does_not_run(app: ChatApplication) -> None:
    app.spec.rollout.strategy = "Immediate"
    step = plan(app, revision("bot", app.spec), lambda _: None, T0)
    conds = {c.type: c for c in observed_status(app, step, DEPLOYMENT, None, T0).conditions}
    assert conds["EvaluationPassed"].status == "Unknown" and conds["EvaluationPassed"].reason == "NotGated"


def test_a_timed_out_gate_leaves_the_evaluation_unknown(app: ChatApplication) -> None:
    _, step = gate(app, GateVerdict(False, "GateTimedOut", "gate did not finish", None))
    app.status = step.status
    conds = {c.type: c for c in observed_status(app, step, DEPLOYMENT, None, T0).conditions}
    assert (
        conds["EvaluationPassed"].status == "Unknown" and conds["EvaluationPassed"].reason == "NotEvaluated"
    )
    assert step.status.evaluation is None


def gate_run(app: ChatApplication) -> GateRun:
    """The GateRun the operator builds (handlers/reconcile.gate_run), without its context."""
    return GateRun(
        app="bot",
        namespace="ns",
        uid="u",
        name="bot-gate-abc-2",
        revision="abc",
        target=n.canary_endpoint("bot", "ns"),
        image="img",
        load_test=app.spec.rollout.load_test,
        calibrate=False,
        timeout_seconds=900,
        evaluation=app.spec.rollout.evaluation,
        judge_endpoint=judge_endpoint(app.spec),
    )


def test_gate_job_runs_the_eval_beside_the_load_test(app: ChatApplication) -> None:
    pod = job_manifest(gate_run(app))["spec"]["template"]["spec"]
    loadtest, evaluation = pod["containers"]
    assert evaluation["name"] == EVAL_CONTAINER and evaluation["image"] == loadtest["image"] == "img"
    args = evaluation["args"]
    assert args[:2] == ["eval", "run"] and args[args.index("--host") + 1] == TARGET
    assert args[args.index("--min") + 1] == "refusal_accuracy=1"
    assert args[args.index("--termination-message") + 1] == "/dev/termination-log"
    set_file = args[args.index("--set") + 1]
    mount = next(m for m in evaluation["volumeMounts"] if m["name"] == "eval-set")
    assert set_file.startswith(mount["mountPath"] + "/") and mount["readOnly"] is True
    volume = next(v for v in pod["volumes"] if v["name"] == "eval-set")
    assert volume["configMap"]["name"] == "bot-evals"
    assert volume["configMap"]["items"] == [{"key": "cases.jsonl", "path": set_file.rsplit("/", 1)[1]}]
    assert evaluation["securityContext"] == loadtest["securityContext"]
    assert evaluation["env"] == loadtest["env"], "one token Secret serves both checks"


def test_only_a_dev_mode_judge_gets_the_simulators_placeholder_key(app: ChatApplication) -> None:
    """Production judges with the gate pod's identity; the operator's dev mode (a local cluster, the judge is
    the simulator) passes the placeholder key to the eval container alone."""
    production = job_manifest(gate_run(app))["spec"]["template"]["spec"]["containers"][1]["env"]
    assert "CHATFLEET_JUDGE_API_KEY" not in {e["name"] for e in production}
    local = replace(gate_run(app), judge_api_key="local-simulator")
    loadtest, evaluation = job_manifest(local)["spec"]["template"]["spec"]["containers"]
    assert {"name": "CHATFLEET_JUDGE_API_KEY", "value": "local-simulator"} in evaluation["env"]
    assert "CHATFLEET_JUDGE_API_KEY" not in {e["name"] for e in loadtest["env"]}


def test_gate_job_with_the_sample_set_mounts_nothing(make_app) -> None:
    doc = make_app(
        {
            "spec": {
                "rollout": {"evaluation": {"set": {"sample": True}, "maxLatencyMs": {"ttft_p95_ms": 3000}}}
            }
        }
    )
    pod = job_manifest(gate_run(parse_application(doc)))["spec"]["template"]["spec"]
    args = pod["containers"][1]["args"]
    assert args[args.index("--set") + 1] == "sample" and args[args.index("--max") + 1] == "ttft_p95_ms=3000"
    assert [v["name"] for v in pod["volumes"]] == ["tmp"]


def test_gate_job_without_evaluation_has_one_container(make_app) -> None:
    pod = job_manifest(gate_run(parse_application(make_app())))["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["loadtest"]


def test_local_runner_writes_a_configmap_set_and_names_a_missing_one(app: ChatApplication, tmp_path) -> None:
    config_maps = {"bot-evals": {"data": {"cases.jsonl": '{"question": "q"}\n'}}, "other": {"data": {}}}
    runner = LocalProcessRunner(read_config_map=lambda ns, name: config_maps.get(name))
    run = gate_run(app)
    assert Path(runner.eval_set_file(run, tmp_path)).read_text() == '{"question": "q"}\n'
    with pytest.raises(LookupError, match="ConfigMap ns/missing not found"):
        runner.eval_set_file(replace(run, evaluation=_with_set(app, config_map_ref="missing")), tmp_path)
    with pytest.raises(LookupError, match=re.escape("ConfigMap other has no key 'cases.jsonl'")):
        runner.eval_set_file(replace(run, evaluation=_with_set(app, config_map_ref="other")), tmp_path)
    sample = _with_set(app, config_map_ref=None, sample=True)
    assert runner.eval_set_file(replace(run, evaluation=sample), tmp_path) == "sample"


def _with_set(app: ChatApplication, **changes: Any) -> Evaluation:
    evaluation = app.spec.rollout.evaluation
    assert evaluation is not None
    return evaluation.model_copy(update={"eval_set": evaluation.eval_set.model_copy(update=changes)})


JUDGED = {**EVALUATION, "judgeDeployment": "gpt-4o-judge", "thresholds": {"judge_groundedness": 4.0}}


def test_the_judge_deployment_reaches_the_eval_with_its_endpoint(make_app) -> None:
    doc = make_app({"spec": {"rollout": {"evaluation": JUDGED}}})
    app = parse_application(doc)
    args = job_manifest(gate_run(app))["spec"]["template"]["spec"]["containers"][1]["args"]
    assert args[args.index("--judge-deployment") + 1] == "gpt-4o-judge"
    pool = app.spec.openai.deployments[0].endpoint  # the app's own resource, unless the spec names one
    assert args[args.index("--judge-endpoint") + 1] == pool
    assert args[args.index("--min") + 1] == "judge_groundedness=4"
    own = make_app(
        {"spec": {"rollout": {"evaluation": {**JUDGED, "judgeEndpoint": "https://judge.example"}}}}
    )
    args = job_manifest(gate_run(parse_application(own)))["spec"]["template"]["spec"]["containers"][1]["args"]
    assert args[args.index("--judge-endpoint") + 1] == "https://judge.example"
    plain = job_manifest(
        gate_run(parse_application(make_app({"spec": {"rollout": {"evaluation": EVALUATION}}})))
    )
    assert "--judge-deployment" not in plain["spec"]["template"]["spec"]["containers"][1]["args"]


def test_the_status_records_the_judge_scores_and_rubric(app: ChatApplication) -> None:
    metrics: dict[str, Any] = {"groundedness": 1.0, "judge_groundedness": 4.5, "judge_relevance": None}
    thresholds = verdict(metrics, [Threshold.parse("judge_groundedness=4", "min")], {"judge_groundedness": 1})
    judge = {"deployment": "gpt-4o-judge", "endpoint": "https://aoai.example", "apiVersion": "2024-10-21"}
    judge |= {"prompts": {"judge_groundedness": "1", "judge_relevance": "1"}}
    judge["unscored"] = [
        {"id": "c1", "metric": "judge_groundedness", "error": "throttled (HTTP 429) after 3 attempts"}
    ]
    report = {
        "set": "s",
        "setSha256": "ab" * 32,
        "host": TARGET,
        "passed": False,
        "cases": [{"error": None}] * 2,
    }
    report |= {
        "metrics": metrics,
        "thresholds": thresholds,
        "promptVersions": {},
        "deployments": [],
        "judge": judge,
    }
    failed_eval = eval_verdict(1, termination_message(report), TARGET)
    assert failed_eval.message == (
        "evaluation failed: judge_groundedness 4.500 (needs >= 4; 1 unscored by the judge)"
    )
    _, step = gate(app, with_evaluation(LOAD_OK, failed_eval))
    status = step.status.evaluation
    assert status is not None and status.passed is False
    assert status.scores == {"groundedness": 1.0, "judge_groundedness": 4.5}
    assert status.judge_deployment == "gpt-4o-judge" and status.judge_unscored == 1
    assert status.judge_prompt_versions == {"judge_groundedness": "1", "judge_relevance": "1"}
    assert status.failed_metric == "judge_groundedness 4.500 (needs >= 4; 1 unscored by the judge)"
