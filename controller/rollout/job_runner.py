"""Runs the gate as a Kubernetes Job against the canary Service (production runner): the load test, and
with `spec.rollout.evaluation` a second container running `chatfleet eval run` in the same pod (same image,
the eval set's ConfigMap mounted as a file), so one Job, one deadline and one verdict cover both checks.

The verdict comes from the Job's conditions plus each container's termination message (the compact JSON
verdict written to /dev/termination-log), so no log scraping and no extra RBAC beyond reading Jobs and
Pods. Job events reach the operator's child watch, so a finished Job is acted on at once.
"""

from __future__ import annotations

from typing import Any

from chatfleet.contracts.loadtest import TOKEN_ENV
from chatfleet.contracts.resource import API_VERSION, KIND
from chatfleet.controller import naming as n
from chatfleet.controller.kube import KubeClient
from chatfleet.controller.render import CONTAINER_SECURITY, RUN_AS_USER
from chatfleet.controller.rollout.evaluation import SAMPLE_SET, EvalVerdict, eval_verdict
from chatfleet.controller.rollout.runner import CONVERSATIONS_FILE, GateRun
from chatfleet.controller.rollout.verdict import (
    GateVerdict,
    parse_summary,
    timed_out,
    verdict_from_exit,
    with_evaluation,
)

CONTAINER = "loadtest"
EVAL_CONTAINER = "eval"
EVAL_SET_DIR = "/etc/chatfleet/eval-set"
EVAL_SET_FILE = "eval-set.jsonl"
CONVERSATIONS_DIR = "/etc/chatfleet/conversations"
TOKEN_SECRET_KEY = "token"  # noqa: S105 - a Secret's key name
FINISHED_JOB_TTL_SECONDS = 3600
POD_TMP = "/tmp"  # noqa: S108 - the pod's own emptyDir (the root filesystem is read-only)  # keep a finished gate Job (and its logs) an hour for SREs


def token_secret_name(app: str) -> str:
    """Optional Secret with a bearer token for the load-test users when the chat API requires auth."""
    return f"{app}-loadtest-token"


def loadtest_service_account_name(run: GateRun) -> str | None:
    """The gate's own ServiceAccount (workload identity only; otherwise the pod runs without one)."""
    token = run.load_test.token
    if token is None or token.workload_identity is None:
        return None
    return token.workload_identity.service_account_name or f"{run.app}-loadtest"


def _owner(run: GateRun) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": run.app,
        "uid": run.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def service_account_manifest(run: GateRun) -> dict[str, Any] | None:
    """The ServiceAccount the workload identity webhook federates: the annotations name the identity the
    gate's token is exchanged for, so no secret exists at all."""
    name = loadtest_service_account_name(run)
    token = run.load_test.token
    if name is None or token is None or token.workload_identity is None:
        return None
    identity = token.workload_identity
    annotations = {n.WORKLOAD_IDENTITY_CLIENT_ID: identity.client_id}
    if identity.tenant_id:
        annotations[n.WORKLOAD_IDENTITY_TENANT_ID] = identity.tenant_id
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": name,
            "namespace": run.namespace,
            "labels": loadtest_labels(run.app),
            "annotations": annotations,
            "ownerReferences": [_owner(run)],
        },
        "automountServiceAccountToken": False,
    }


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    """From the Secret by reference (never copied); optional, so a missing Secret fails the run with the
    CLI's one-line error instead of holding the pod until the gate times out."""
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key, "optional": True}}}


def token_env(run: GateRun) -> list[dict[str, Any]]:
    """The credentials of the spec's token source as environment variables (never argv, never logged)."""
    token = run.load_test.token
    if token is not None and token.client_credentials is not None:
        cc = token.client_credentials
        env = [
            _secret_env("AZURE_TENANT_ID", cc.secret_ref, cc.tenant_id_key),
            _secret_env("AZURE_CLIENT_ID", cc.secret_ref, cc.client_id_key),
            _secret_env("AZURE_CLIENT_SECRET", cc.secret_ref, cc.client_secret_key),
        ]
        if cc.authority_host:
            env.append({"name": "AZURE_AUTHORITY_HOST", "value": cc.authority_host})
        return env
    if token is not None and token.workload_identity is not None:
        return []  # the workload identity webhook injects AZURE_CLIENT_ID, _TENANT_ID, _FEDERATED_TOKEN_FILE
    static = token.static_secret if token is not None else None
    secret = static.secret_ref if static and static.secret_ref else token_secret_name(run.app)
    return [_secret_env(TOKEN_ENV, secret, static.key if static else TOKEN_SECRET_KEY)]


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
    env: list[dict[str, Any]] = [{"name": "HOME", "value": POD_TMP}, *token_env(run)]
    pod_labels = {**labels, n.REVISION: run.revision}
    pod_extra: dict[str, Any] = {}
    service_account = loadtest_service_account_name(run)
    if service_account is not None:
        pod_labels[n.WORKLOAD_IDENTITY_USE] = "true"
        pod_extra["serviceAccountName"] = service_account
    conversations = f"{CONVERSATIONS_DIR}/{CONVERSATIONS_FILE}" if run.load_test.conversations else None
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": POD_TMP}]
    if conversations is not None:
        mounts.append({"name": "conversations", "mountPath": CONVERSATIONS_DIR, "readOnly": True})
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": run.name,
            "namespace": run.namespace,
            "labels": {**labels, n.REVISION: run.revision},
            "ownerReferences": [_owner(run)],
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": run.timeout_seconds,
            "ttlSecondsAfterFinished": FINISHED_JOB_TTL_SECONDS,
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    **pod_extra,
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
                            "args": run.loadtest_args(
                                f"{POD_TMP}/summary.json", "/dev/termination-log", conversations
                            ),
                            "env": env,
                            "resources": {
                                "requests": {"cpu": "500m", "memory": "512Mi"},
                                "limits": {"cpu": "1", "memory": "1Gi"},
                            },
                            "securityContext": CONTAINER_SECURITY,
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                            "volumeMounts": mounts,
                        },
                        *_eval_containers(run, env),
                    ],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                        *_eval_volumes(run),
                        *_conversation_volumes(run),
                    ],
                },
            },
        },
    }


def _eval_containers(run: GateRun, env: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The eval container (none without an evaluation); its log tail becomes the termination message when
    it exits before writing one (a usage error), so the verdict still says why."""
    if run.evaluation is None:
        return []
    source = run.evaluation.eval_set
    set_file = SAMPLE_SET if source.sample else f"{EVAL_SET_DIR}/{EVAL_SET_FILE}"
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": POD_TMP}]
    if not source.sample:
        mounts.append({"name": "eval-set", "mountPath": EVAL_SET_DIR, "readOnly": True})
    if run.judge_api_key:
        env = [*env, {"name": "CHATFLEET_JUDGE_API_KEY", "value": run.judge_api_key}]
    return [
        {
            "name": EVAL_CONTAINER,
            "image": run.image,
            "command": ["chatfleet"],
            "args": run.evaluation_args(set_file, "/dev/termination-log", f"{POD_TMP}/eval.json"),
            "env": env,
            "resources": {
                "requests": {"cpu": "250m", "memory": "512Mi"},
                "limits": {"cpu": "1", "memory": "1Gi"},
            },
            "securityContext": CONTAINER_SECURITY,
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "volumeMounts": mounts,
        }
    ]


def _eval_volumes(run: GateRun) -> list[dict[str, Any]]:
    """The eval set's ConfigMap as one file; optional, so a missing set fails the eval with a message
    instead of holding the pod in ContainerCreating until the gate times out."""
    if run.evaluation is None or run.evaluation.eval_set.config_map_ref is None:
        return []
    source = run.evaluation.eval_set
    config_map = {
        "name": source.config_map_ref,
        "items": [{"key": source.key, "path": EVAL_SET_FILE}],
        "optional": True,
    }
    return [{"name": "eval-set", "configMap": config_map}]


def _conversation_volumes(run: GateRun) -> list[dict[str, Any]]:
    """The app's conversations' ConfigMap as one file; optional for the same reason as the eval set."""
    source = run.load_test.conversations
    if source is None:
        return []
    items = [{"key": source.key, "path": CONVERSATIONS_FILE}]
    config_map = {"name": source.config_map_ref, "items": items, "optional": True}
    return [{"name": "conversations", "configMap": config_map}]


def _conditions(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in job.get("status", {}).get("conditions", []) if c.get("status") == "True"}


class JobRunner:
    """GateRunner on Kubernetes Jobs."""

    def __init__(self, kube: KubeClient) -> None:
        self._kube = kube

    def start(self, run: GateRun) -> None:
        if self._kube.get("Job", run.namespace, run.name) is None:
            self._apply(run)

    def _apply(self, run: GateRun) -> None:
        account = service_account_manifest(run)
        if account is not None:
            self._kube.apply(account)
        self._kube.apply(job_manifest(run))

    def poll(self, run: GateRun) -> GateVerdict | None:
        job = self._kube.get("Job", run.namespace, run.name)
        if job is None:
            self._apply(run)
            return None
        done = _conditions(job)
        if "Complete" in done or "SuccessCriteriaMet" in done:
            ended = self._terminations(run)
            exit_code, message = ended.get(CONTAINER, (None, None))
            load_test = verdict_from_exit(
                0 if exit_code is None else exit_code, parse_summary(message), run.target
            )
            return with_evaluation(load_test, _evaluation(run, ended, completed=True))
        failed = done.get("Failed") or done.get("FailureTarget")
        if failed is None:
            return None
        if failed.get("reason") == "DeadlineExceeded":
            return timed_out(run.timeout_seconds)
        ended = self._terminations(run)
        exit_code, message = ended.get(CONTAINER, (None, None))
        evaluation = _evaluation(run, ended, completed=False)
        if exit_code is None:
            detail = failed.get("message") or failed.get("reason") or "no reason given"
            load_test = GateVerdict(False, "LoadTestFailed", f"gate Job {run.name} failed: {detail}", None)
            return with_evaluation(load_test, evaluation)
        return with_evaluation(verdict_from_exit(exit_code, parse_summary(message), run.target), evaluation)

    def _terminations(self, run: GateRun) -> dict[str, tuple[int | None, str | None]]:
        """Exit code and termination message per container of the gate pod, for those that ended."""
        selector = f"batch.kubernetes.io/job-name={run.name}"
        ended: dict[str, tuple[int | None, str | None]] = {}
        for pod in self._kube.list("Pod", run.namespace, selector):
            for status in pod.get("status", {}).get("containerStatuses", []):
                state = status.get("state", {}).get("terminated") or status.get("lastState", {}).get(
                    "terminated"
                )
                if state and status.get("name") not in ended:
                    ended[status["name"]] = (state.get("exitCode"), state.get("message"))
        return ended

    def cancel(self, run_name: str, namespace: str) -> None:
        self._kube.delete("Job", namespace, run_name)


def _evaluation(
    run: GateRun, ended: dict[str, tuple[int | None, str | None]], completed: bool
) -> EvalVerdict | None:
    """The eval container's verdict; a completed Job means it exited 0 even if no pod is left to say so, a
    failed one whose eval container never ended has no eval verdict (EvaluationPassed stays Unknown)."""
    if run.evaluation is None or (not completed and EVAL_CONTAINER not in ended):
        return None
    exit_code, message = ended.get(EVAL_CONTAINER, (0 if completed else None, None))
    return eval_verdict(exit_code, message, run.target)
