"""The gated rollout on the real control plane with the Job runner.

Success runs the real path: the job controller creates the load-test pod and KWOK completes it (exit 0).
For failure, timeout and supersession a `NotBestEffort` pod quota keeps the Job's pod from being created,
so the gate stays open; the failure case then records what a kubelet would (the container's exit code and
termination message on a pod, the Job's Failed condition), as envtest users do.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from chatfleet.contracts.resource import KIND
from chatfleet.controller import naming as n
from chatfleet.controller.kube import KubeClient
from chatfleet.controller.loading import parse_application
from chatfleet.controller.render import revision

GATED = {"spec": {"rollout": {"strategy": "Gated", "gateTimeout": "10s", "loadTest": {"duration": "5s"}}}}


def app_status(kube: KubeClient, namespace: str, name: str) -> dict[str, Any]:
    return (kube.get(KIND, namespace, name) or {}).get("status", {})


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions", []) if c["type"] == type_), {})


def set_image(kube: KubeClient, namespace: str, name: str, image: str) -> str:
    updated = kube.request(
        "PATCH",
        kube.path(KIND, namespace, name),
        body={"spec": {"image": image}},
        content_type="application/merge-patch+json",
    )
    return revision(name, parse_application(updated).spec)


def block_gate_pods(kube: KubeClient, namespace: str) -> None:
    """Quota admission then refuses the gate Job's pods (500m CPU requested) and admits two canary pods
    (250m each: a superseding candidate gets a new one), so the test writes the gate pod's outcome itself
    while the canary becomes available (KWOK), which the operator waits for before it starts the gate.

    The local control plane runs no resource-quota controller, so the test records the quota's usage
    itself (as envtest users do); admission only enforces a quota whose status is known. BestEffort pods
    (the test's own gate pod, with no requests) are outside its scope.
    """
    path = f"/api/v1/namespaces/{namespace}/resourcequotas"
    kube.request(
        "POST",
        path,
        body={
            "metadata": {"name": "no-gate-pods"},
            "spec": {"hard": {"requests.cpu": "600m"}, "scopes": ["NotBestEffort"]},
        },
    )
    kube.request(
        "PATCH",
        f"{path}/no-gate-pods/status",
        body={"status": {"hard": {"requests.cpu": "600m"}, "used": {"requests.cpu": "0"}}},
        content_type="application/merge-patch+json",
    )


def gate_jobs(kube: KubeClient, namespace: str, name: str) -> list[str]:
    jobs = kube.list("Job", namespace, f"{n.INSTANCE}={name}")
    return sorted(j["metadata"]["name"] for j in jobs if not j["metadata"].get("deletionTimestamp"))


@pytest.fixture
def deployed(operator, kube: KubeClient, namespace: str, app_doc, wait):
    """A Gated app whose first revision is deployed."""

    def create(name: str) -> str:
        kube.create(app_doc(name, namespace, GATED))
        status = wait(
            lambda: (s := app_status(kube, namespace, name)).get("revision", {}).get("current") and s,
            30,
            "first revision\n" + operator.log(),
        )
        return status["revision"]["current"]

    return create


def test_passing_job_promotes(operator, kube: KubeClient, namespace: str, deployed, wait) -> None:
    first = deployed("pass")
    candidate = set_image(kube, namespace, "pass", "registry.example/chat:2.0.0")
    status = wait(
        lambda: (
            (s := app_status(kube, namespace, "pass")).get("revision", {}).get("current") == candidate and s
        ),
        60,
        "promotion\n" + operator.log(),
    )
    assert first != candidate
    assert condition(status, "LoadTestPassed")["status"] == "True"
    assert status["loadTest"]["passed"] is True and status["loadTest"]["revision"] == candidate
    assert status["rollout"]["phase"] == "Idle"
    stable = kube.get("Deployment", namespace, "pass")
    assert stable["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/chat:2.0.0"
    wait(lambda: kube.get("Deployment", namespace, "pass-canary") is None, 20, "canary removed")
    wait(lambda: not gate_jobs(kube, namespace, "pass"), 20, "gate Job removed")
    reasons = [e["reason"] for e in kube.list("Event", namespace) if e["involvedObject"]["name"] == "pass"]
    assert "GateStarted" in reasons and "Promoted" in reasons


def test_failing_job_rolls_back_with_degraded(
    operator, kube: KubeClient, namespace: str, deployed, wait
) -> None:
    first = deployed("fail")
    block_gate_pods(kube, namespace)
    candidate = set_image(kube, namespace, "fail", "registry.example/chat:2.0.0")
    (job,) = wait(lambda: gate_jobs(kube, namespace, "fail"), 30, "gate Job\n" + operator.log())
    canary = kube.get("Deployment", namespace, "fail-canary")
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/chat:2.0.0"
    stable = kube.get("Deployment", namespace, "fail")
    assert stable["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/chat:1.0.0"

    # What the kubelet and the job controller would record for a run whose TTFT SLO failed.
    message = {
        "passed": False,
        "scenario": "steady",
        "requests": 312,
        "errorRatePercent": 0.3,
        "ttftMs": {"p50": 900, "p95": 2130, "p99": 2600},
        "verdicts": [{"slo": "ttftP95Ms", "limit": 1500, "measured": 2130, "passed": False}],
    }
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
                        "name": "loadtest",
                        "image": "registry.example/chat:2.0.0",
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }
                ],
            },
        }
    )
    terminated = {"exitCode": 1, "reason": "Error", "message": json.dumps(message)}
    kube.patch_status(
        "Pod",
        namespace,
        f"{job}-x",
        {
            "phase": "Failed",
            "containerStatuses": [
                {
                    "name": "loadtest",
                    "image": "registry.example/chat:2.0.0",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"terminated": terminated},
                }
            ],
        },
    )
    live_job = kube.get("Job", namespace, job)
    now = live_job["metadata"]["creationTimestamp"]
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
            "startTime": live_job["status"].get("startTime", now),
            "failed": 1,
            "conditions": [
                {"type": "FailureTarget", "lastTransitionTime": now, "lastProbeTime": now, **failure},
                {"type": "Failed", "lastTransitionTime": now, "lastProbeTime": now, **failure},
            ],
        },
    )
    status = wait(
        lambda: (s := app_status(kube, namespace, "fail")).get("rollout", {}).get("phase") == "Failed" and s,
        30,
        "roll back\n" + operator.log(),
    )
    degraded = condition(status, "Degraded")
    assert degraded["status"] == "True" and degraded["reason"] == "SLOFailed"
    assert "ttftP95Ms: measured 2130, limit 1500" in degraded["message"]
    assert condition(status, "LoadTestPassed")["status"] == "False"
    assert status["loadTest"]["ttftP95Ms"] == 2130 and status["loadTest"]["passed"] is False
    assert status["revision"]["current"] == first and status["revision"]["candidate"] == candidate
    wait(lambda: kube.get("Deployment", namespace, "fail-canary") is None, 20, "canary removed")
    stable = kube.get("Deployment", namespace, "fail")
    assert stable["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/chat:1.0.0"
    events = [e for e in kube.list("Event", namespace) if e["reason"] == "RolledBack"]
    assert events and events[0]["type"] == "Warning"


def test_stuck_job_times_out(operator, kube: KubeClient, namespace: str, deployed, wait) -> None:
    first = deployed("stuck")
    block_gate_pods(kube, namespace)
    set_image(kube, namespace, "stuck", "registry.example/chat:2.0.0")
    wait(lambda: gate_jobs(kube, namespace, "stuck"), 30, "gate Job\n" + operator.log())
    status = wait(
        lambda: (s := app_status(kube, namespace, "stuck")).get("rollout", {}).get("phase") == "Failed" and s,
        40,
        "gate timeout\n" + operator.log(),
    )
    assert condition(status, "Degraded")["reason"] == "GateTimedOut"
    assert status["revision"]["current"] == first
    wait(lambda: not gate_jobs(kube, namespace, "stuck"), 20, "stuck Job removed")


def test_new_change_supersedes_a_running_gate(
    operator, kube: KubeClient, namespace: str, deployed, wait
) -> None:
    deployed("super")
    block_gate_pods(kube, namespace)
    second = set_image(kube, namespace, "super", "registry.example/chat:2.0.0")
    (first_job,) = wait(lambda: gate_jobs(kube, namespace, "super"), 30, "first gate Job\n" + operator.log())
    assert second in first_job
    third = set_image(kube, namespace, "super", "registry.example/chat:3.0.0")

    def superseded() -> list[str] | None:
        jobs = gate_jobs(kube, namespace, "super")
        return jobs if len(jobs) == 1 and third in jobs[0] else None

    wait(superseded, 30, "second gate replaces the first\n" + operator.log())
    status = app_status(kube, namespace, "super")
    assert status["revision"]["candidate"] == third and status["rollout"]["phase"] == "Testing"
    canary = kube.get("Deployment", namespace, "super-canary")
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/chat:3.0.0"
    assert any(e["reason"] == "GateSuperseded" for e in kube.list("Event", namespace))
