"""The quality gate with the Job runner on the real control plane: the eval runs as a second container of
the gate Job's pod, with the eval set's ConfigMap mounted, and its verdict is read from that container.

The passing case runs the real path (job controller, scheduler, KWOK completing every container). The
failing case blocks the pod with a quota and records what a kubelet would for a pod whose load test passed
and whose eval missed a threshold (as test_gate_live.py does for a failed SLO).
"""

from __future__ import annotations

import json
from typing import Any

from chatfleet.controller.kube import KubeClient
from chatfleet.eval.report import Threshold, verdict
from chatfleet.eval.termination import termination_message
from tests.integration.controller.test_gate_live import (
    app_status,
    block_gate_pods,
    condition,
    set_image,
)

EVALUATED = {
    "spec": {
        "rollout": {
            "strategy": "Gated",
            "gateTimeout": "20s",
            "loadTest": {"duration": "5s"},
            "evaluation": {"set": {"configMapRef": "evals"}, "thresholds": {"groundedness": 0.9}},
        }
    }
}


def deploy(kube: KubeClient, namespace: str, name: str, app_doc, wait, operator) -> str:
    kube.create(app_doc(name, namespace, EVALUATED))
    status = wait(
        lambda: (s := app_status(kube, namespace, name)).get("revision", {}).get("current") and s,
        30,
        "first revision\n" + operator.log(),
    )
    return status["revision"]["current"]


def test_job_with_a_passing_eval_container_promotes(
    operator, kube: KubeClient, namespace: str, app_doc, wait
) -> None:
    deploy(kube, namespace, "qpass", app_doc, wait, operator)
    candidate = set_image(kube, namespace, "qpass", "registry.example/chat:2.0.0")

    def job_pod() -> dict[str, Any] | None:
        jobs = kube.list("Job", namespace, "app.kubernetes.io/instance=qpass")
        return jobs[0]["spec"]["template"]["spec"] if jobs else None

    pod = wait(job_pod, 30, "gate Job\n" + operator.log())
    assert [c["name"] for c in pod["containers"]] == ["loadtest", "eval"]
    (volume,) = [v["configMap"] for v in pod["volumes"] if v["name"] == "eval-set"]
    assert volume["name"] == "evals" and volume["optional"] is True
    assert volume["items"] == [{"key": "eval-set.jsonl", "path": "eval-set.jsonl"}]
    status = wait(
        lambda: (
            (s := app_status(kube, namespace, "qpass")).get("revision", {}).get("current") == candidate and s
        ),
        60,
        "promotion\n" + operator.log(),
    )
    assert condition(status, "EvaluationPassed")["status"] == "True"
    assert condition(status, "LoadTestPassed")["status"] == "True"
    assert status["evaluation"]["passed"] is True and status["evaluation"]["revision"] == candidate


def test_job_whose_eval_container_fails_rolls_back_naming_the_metric(
    operator, kube: KubeClient, namespace: str, app_doc, wait
) -> None:
    first = deploy(kube, namespace, "qfail", app_doc, wait, operator)
    block_gate_pods(kube, namespace)
    candidate = set_image(kube, namespace, "qfail", "registry.example/chat:2.0.0")
    jobs = wait(lambda: kube.list("Job", namespace, "app.kubernetes.io/instance=qfail"), 30, "gate Job")
    job = jobs[0]["metadata"]["name"]

    summary = {"passed": True, "scenario": "steady", "requests": 300, "errorRatePercent": 0.0,
               "ttftMs": {"p50": 300, "p95": 600, "p99": 700}, "verdicts": []}  # fmt: skip
    metrics = {"groundedness": 0.62, "correctness": 0.9}
    report = {
        "set": "/etc/chatfleet/eval-set/eval-set.jsonl", "setSha256": "cd" * 32, "host": "http://qfail-canary",
        "passed": False, "cases": [{"error": None}] * 5, "metrics": metrics,
        "thresholds": verdict(metrics, [Threshold.parse("groundedness=0.9", "min")]),
        "promptVersions": {"answer": "2"}, "deployments": ["gpt-4o"],
    }  # fmt: skip
    ended = {"loadtest": (0, json.dumps(summary)), "eval": (1, termination_message(report))}
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{job}-x",
                "namespace": namespace,
                "labels": {"batch.kubernetes.io/job-name": job},
            },
            "spec": {
                "nodeName": "no-such-node",
                "restartPolicy": "Never",
                "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [
                    {
                        "name": name,
                        "image": "registry.example/chat:2.0.0",
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }
                    for name in ended
                ],
            },
        }
    )
    kube.patch_status(
        "Pod",
        namespace,
        f"{job}-x",
        {
            "phase": "Failed",
            "containerStatuses": [
                {
                    "name": name,
                    "image": "registry.example/chat:2.0.0",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"terminated": {"exitCode": code, "reason": "Error", "message": message}},
                }
                for name, (code, message) in ended.items()
            ],
        },
    )
    now = kube.get("Job", namespace, job)["metadata"]["creationTimestamp"]
    failure = {
        "status": "True",
        "reason": "BackoffLimitExceeded",
        "message": "Job has reached the backoff limit",
    }
    kube.patch_status(
        "Job",
        namespace,
        job,
        {
            "startTime": now,
            "failed": 1,
            "conditions": [
                {"type": kind, "lastTransitionTime": now, "lastProbeTime": now, **failure}
                for kind in ("FailureTarget", "Failed")
            ],
        },
    )
    status = wait(
        lambda: (s := app_status(kube, namespace, "qfail")).get("rollout", {}).get("phase") == "Failed" and s,
        30,
        "roll back\n" + operator.log(),
    )
    degraded = condition(status, "Degraded")
    assert degraded["status"] == "True" and degraded["reason"] == "EvaluationFailed"
    assert "groundedness 0.620 (needs >= 0.9)" in degraded["message"]
    assert condition(status, "LoadTestPassed")["status"] == "True"
    assert condition(status, "EvaluationPassed")["status"] == "False"
    assert status["evaluation"]["setSha256"] == "cd" * 32 and status["evaluation"]["promptVersions"] == {
        "answer": "2"
    }
    assert status["revision"]["current"] == first and status["revision"]["candidate"] == candidate
