"""Gated releases on real pods: the operator (a host process) renders the canary and the gate Job; the
kubelet runs the canary from the chat image and the Job from the load-test image against the canary's
Service; the verdict comes from the Job pod's exit code and termination message.

A good release (a settings change: a new revision) is promoted. A release whose canary cannot answer (its
Azure OpenAI endpoint names a Service that does not exist) fails its load test: the app stays on the
serving revision with Degraded naming the failed SLO. A release that cannot start (a database server that
does not exist) is rolled back as soon as its canary crash-loops, Degraded quoting the service's error.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes import client

from chatfleet.contracts.resource import GROUP, PLURAL, VERSION
from chatfleet.controller import naming as n
from chatfleet.devcluster.cluster import LocalCluster
from tests.helpers.waiting import eventually

from .conftest import (
    NodeImages,
    PodIssuer,
    chat_app,
    create_app,
    deploy_simulator,
    namespace_report,
    new_namespace,
    ready_pods,
)

pytestmark = pytest.mark.timeout(900)


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions", []) if c["type"] == kind), {})


def test_a_good_release_is_promoted_and_a_broken_one_rolled_back(
    real_cluster: LocalCluster,
    images: NodeImages,
    operator: Any,
    pod_issuer: PodIssuer,
    pod_identity: list[str],
) -> None:
    api = real_cluster.api_client()
    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    namespace = new_namespace(api, pod_issuer)
    name = "gated"

    def status() -> dict[str, Any]:
        return (
            custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name).get("status") or {}
        )

    def patch(spec: dict[str, Any]) -> None:
        custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, {"spec": spec})

    def why() -> str:
        report = namespace_report(real_cluster, namespace)
        return f"{status()}\n{report}\noperator:\n{operator.read_text()[-3000:]}"

    try:
        simulator = deploy_simulator(api, namespace, images.chat)
        token = pod_issuer.tokens.token(exp=int(time.time()) + 3600)
        core.create_namespaced_secret(
            namespace, {"metadata": {"name": f"{name}-loadtest-token"}, "stringData": {"token": token}}
        )
        doc = chat_app(name, namespace, images.chat, pod_issuer, simulator)
        doc["spec"]["scaling"] = {"minReplicas": 1, "maxReplicas": 1}
        doc["spec"]["rollout"] = {
            "strategy": "Gated",
            "gateTimeout": "6m",
            "loadTest": {
                "image": images.loadtest,
                "users": 2,
                "spawnRate": 2,
                "duration": "15s",
                "slo": {"ttftP95Ms": 5000, "errorRatePercent": 1, "minTokensPerSecond": 5},
            },
        }
        create_app(api, doc)
        first = eventually(lambda: status().get("revision", {}).get("current"), 120, "first revision")
        selector = ",".join(f"{k}={v}" for k, v in n.selector(name, "stable").items())
        ready_pods(api, namespace, selector, 1, timeout=600)

        # A good release: a new revision, load-tested on a real canary by the real Job, then promoted.
        patch({"budgets": {"tenantTokensPerMinute": 500000}})
        try:
            promoted = eventually(
                lambda: (s := status()).get("revision", {}).get("current") not in (None, first) and s,
                600,
                "the good release promoted",
            )
        except AssertionError:
            raise AssertionError(why()) from None
        assert _condition(promoted, "LoadTestPassed")["status"] == "True"
        assert promoted["loadTest"]["passed"] is True and promoted["loadTest"]["requests"] > 0
        good = promoted["revision"]["current"]

        # A broken release: its model endpoint names a Service that does not exist, so the canary answers
        # every gate user with an error. (rollout.canaryDeployments alone is no release: not in the revision.)
        broken = {
            "name": "gone",
            "endpoint": f"http://no-such-model.{namespace}.svc.cluster.local",
            "deployment": "gpt-4o",
        }
        patch({"openai": {"deployments": [broken]}})
        try:
            failed = eventually(
                lambda: (s := status()).get("rollout", {}).get("phase") == "Failed" and s,
                600,
                "the broken release rolled back",
            )
        except AssertionError:
            raise AssertionError(why()) from None
        degraded = _condition(failed, "Degraded")
        assert degraded["status"] == "True" and degraded["reason"] == "SLOFailed", degraded
        # no answer got a first token, so the first SLO judged fails with nothing measured
        assert "rolled back" in degraded["message"] and "SLO failed" in degraded["message"], degraded
        assert failed["revision"]["current"] == good and failed["loadTest"]["passed"] is False
        stable = client.AppsV1Api(api).read_namespaced_deployment(n.stable_name(name), namespace)
        assert stable.spec.template.metadata.labels[n.REVISION] == good

        # A release that cannot start: its conversation store names a database server that does not
        # exist, which the service refuses at start-up. The canary crash-loops; the gate fails at once
        # (not at gateTimeout), quoting the error from the container's termination message.
        cannot_start = {
            "openai": doc["spec"]["openai"],
            "history": {"store": "postgres"},
            "postgres": {
                "host": f"no-such-db.{namespace}.svc.cluster.local",
                "database": "chat",
                "user": "chat-identity",
            },
        }
        patch(cannot_start)
        try:
            refused = eventually(
                lambda: (
                    (s := status()).get("rollout", {}).get("phase") == "Failed"
                    and s["revision"].get("candidate") not in (None, failed["revision"]["candidate"])
                    and s
                ),
                300,  # the gate timeout is 6 minutes
                "the release that cannot start rolled back",
            )
        except AssertionError:
            raise AssertionError(why()) from None
        degraded = _condition(refused, "Degraded")
        assert degraded["status"] == "True" and degraded["reason"] == "CanaryFailedToStart", degraded
        assert "exits at start-up" in degraded["message"], degraded
        assert "failed to resolve host" in degraded["message"], degraded  # the service's own words
        assert refused["revision"]["current"] == good
        stable_pods = ready_pods(api, namespace, selector, 1)
        assert stable_pods[0].metadata.labels[n.REVISION] == good, "the good revision keeps serving"
    finally:
        core.delete_namespace(namespace)
