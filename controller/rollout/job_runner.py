"""Runs the gate's load test as a Kubernetes Job against the canary Service (production runner).

The verdict comes from the Job's conditions plus the load-test container's termination message (the
compact JSON summary written to /dev/termination-log), so no log scraping and no extra RBAC beyond
reading Jobs and Pods. Job events reach the operator's child watch, so a finished Job is acted on at once.
"""

from __future__ import annotations

from typing import Any

from chatfleet.contracts.loadtest import TOKEN_ENV
from chatfleet.contracts.resource import API_VERSION, KIND
from chatfleet.controller import naming as n
from chatfleet.controller.kube import KubeClient
from chatfleet.controller.render import RUN_AS_USER
from chatfleet.controller.rollout.runner import GateRun
from chatfleet.controller.rollout.verdict import GateVerdict, parse_summary, timed_out, verdict_from_exit

CONTAINER = "loadtest"
TOKEN_SECRET_KEY = "token"  # noqa: S105 - a Secret's key name
FINISHED_JOB_TTL_SECONDS = 3600
POD_TMP = "/tmp"  # noqa: S108 - the pod's own emptyDir (the root filesystem is read-only)  # keep a finished gate Job (and its logs) an hour for SREs


def token_secret_name(app: str) -> str:
    """Optional Secret with a bearer token for the load-test users when the chat API requires auth."""
    return f"{app}-loadtest-token"


def loadtest_labels(app: str) -> dict[str, str]:
    """Not the chat pods' labels: the app's NetworkPolicy must not select the load generator."""
    return {
        "app.kubernetes.io/name": "chatfleet-loadtest",
        n.INSTANCE: app,
        n.COMPONENT: "loadtest",
        "app.kubernetes.io/part-of": "chatfleet",
        n.MANAGED_BY: n.FIELD_MANAGER,
        n.LOADTEST_FOR: app,
    }


def job_manifest(run: GateRun) -> dict[str, Any]:
    """The gate Job: one restricted pod, no retries, hard deadline = the gate timeout."""
    labels = loadtest_labels(run.app)
    restricted = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    token = {"secretKeyRef": {"name": token_secret_name(run.app), "key": TOKEN_SECRET_KEY, "optional": True}}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": run.name,
            "namespace": run.namespace,
            "labels": {**labels, n.REVISION: run.revision},
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": KIND,
                    "name": run.app,
                    "uid": run.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": run.timeout_seconds,
            "ttlSecondsAfterFinished": FINISHED_JOB_TTL_SECONDS,
            "template": {
                "metadata": {"labels": {**labels, n.REVISION: run.revision}},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": RUN_AS_USER,
                        "runAsGroup": RUN_AS_USER,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": CONTAINER,
                            "image": run.image,
                            "command": ["chatfleet"],
                            "args": run.loadtest_args(f"{POD_TMP}/summary.json", "/dev/termination-log"),
                            "env": [
                                {"name": "HOME", "value": POD_TMP},
                                {"name": TOKEN_ENV, "valueFrom": token},
                            ],
                            "resources": {
                                "requests": {"cpu": "500m", "memory": "512Mi"},
                                "limits": {"cpu": "1", "memory": "1Gi"},
                            },
                            "securityContext": restricted,
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                            "volumeMounts": [{"name": "tmp", "mountPath": POD_TMP}],
                        }
                    ],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],
                },
            },
        },
    }


def _conditions(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in job.get("status", {}).get("conditions", []) if c.get("status") == "True"}


class JobRunner:
    """GateRunner on Kubernetes Jobs."""

    def __init__(self, kube: KubeClient) -> None:
        self._kube = kube

    def start(self, run: GateRun) -> None:
        if self._kube.get("Job", run.namespace, run.name) is None:
            self._kube.apply(job_manifest(run))

    def poll(self, run: GateRun) -> GateVerdict | None:
        job = self._kube.get("Job", run.namespace, run.name)
        if job is None:
            self._kube.apply(job_manifest(run))
            return None
        done = _conditions(job)
        if "Complete" in done or "SuccessCriteriaMet" in done:
            exit_code, message = self._termination(run)
            return verdict_from_exit(
                0 if exit_code is None else exit_code, parse_summary(message), run.target
            )
        failed = done.get("Failed") or done.get("FailureTarget")
        if failed is None:
            return None
        if failed.get("reason") == "DeadlineExceeded":
            return timed_out(run.timeout_seconds)
        exit_code, message = self._termination(run)
        verdict = verdict_from_exit(exit_code, parse_summary(message), run.target)
        if exit_code is None:
            detail = failed.get("message") or failed.get("reason") or "no reason given"
            return GateVerdict(False, "LoadTestFailed", f"load-test Job {run.name} failed: {detail}", None)
        return verdict

    def _termination(self, run: GateRun) -> tuple[int | None, str | None]:
        """Exit code and termination message of the load-test container, if a pod recorded them."""
        selector = f"batch.kubernetes.io/job-name={run.name}"
        for pod in self._kube.list("Pod", run.namespace, selector):
            for status in pod.get("status", {}).get("containerStatuses", []):
                if status.get("name") != CONTAINER:
                    continue
                state = status.get("state", {}).get("terminated") or status.get("lastState", {}).get(
                    "terminated"
                )
                if state:
                    return state.get("exitCode"), state.get("message")
        return None, None

    def cancel(self, run_name: str, namespace: str) -> None:
        self._kube.delete("Job", namespace, run_name)
