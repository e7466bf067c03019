"""The quality gate end to end: operator + real `chatfleet loadtest` and `chatfleet eval run` processes + a
real chat service on loopback, the eval set in a real ConfigMap on the real API server.

A set the healthy service answers promotes with the scores, set digest and prompt versions in status, and
the judge's scores (the service's built-in simulator is the judge, named by judgeDeployment/judgeEndpoint,
its key in the operator's environment as a local run passes it); the same questions with the wrong
expected sources (what a broken index looks like to the eval) roll the next revision back with Degraded
naming the metric, its value and the threshold, while the load test passed.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from chatfleet.contracts.resource import KIND
from chatfleet.controller import naming as n
from chatfleet.controller.kube import KubeClient
from chatfleet.controller.loading import parse_application
from chatfleet.controller.render import revision
from tests.integration.controller import test_local_gate_live

# the local gate's fixture: a real chat service (dev mode, embedded simulator, sample corpus) on loopback
chat_service = test_local_gate_live.chat_service

CASES = [
    {
        "id": "hotel",
        "tenant": "contoso",
        "question": "What is the hotel limit per night in London?",
        "expected_sources": ["expense-policy.md"],
        "reference": "The hotel limit is 350 USD per night in London.",
    },
    {
        "id": "vpn",
        "tenant": "contoso",
        "question": "Which portal address do I enter when installing the GlobalProtect VPN client?",
        "expected_sources": ["vpn-setup.md"],
        "reference": "Enter the portal address vpn.contoso.example.",
    },
    {
        "id": "off-topic",
        "tenant": "contoso",
        "question": "What is the capital of Mongolia?",
        "answerable": False,
    },
]
WRONG_SOURCES = [
    {**case, "expected_sources": ["travel-policy.md"]} if case.get("answerable", True) else case
    for case in CASES
]


def jsonl(cases: list[dict]) -> str:
    return "".join(json.dumps(case) + "\n" for case in cases)


def test_quality_gate_promotes_a_good_set_and_rolls_back_a_failing_one(
    operator_factory,
    kube: KubeClient,
    private_namespace: str,
    app_doc,
    chat_service: str,
    wait,
    tmp_path: Path,
) -> None:
    ns = private_namespace
    log = (tmp_path / "chat.log").read_text(encoding="utf-8")  # the chat_service fixture's output
    match = re.search(r"built-in simulator at (\S+)", log)
    assert match, log
    simulator = match.group(1)
    operator = operator_factory(
        [ns], CHATFLEET_OPERATOR_GATE_RUNNER="local", CHATFLEET_JUDGE_API_KEY="local-simulator"
    )
    good = jsonl(CASES)
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "evals", "namespace": ns}}
    kube.create({**config_map, "data": {"cases.jsonl": good}})
    spec = {
        "rollout": {
            "gateTimeout": "90s",
            "loadTest": {
                "users": 1,
                "spawnRate": 1,
                "duration": "5s",
                "slo": {"ttftP95Ms": 10_000, "errorRatePercent": 5, "minTokensPerSecond": 1},
            },
            "evaluation": {
                "set": {"configMapRef": "evals", "key": "cases.jsonl"},
                "thresholds": {
                    "recall_at_k": 0.9,
                    "refusal_accuracy": 0.9,
                    "citation_validity": 0.9,
                    "judge_groundedness": 4,
                    "judge_relevance": 3,
                },
                "judgeDeployment": "judge",
                "judgeEndpoint": simulator,
            },
        },
        "scaling": {"streamsPerReplica": 4},
    }
    doc = app_doc("quality", ns, {"spec": spec})
    doc["metadata"]["annotations"] = {n.LOADTEST_HOST_ANNOTATION: chat_service}
    kube.create(doc)
    wait(lambda: (kube.get(KIND, ns, "quality").get("status") or {}).get("revision"), 30, "deployed")

    def ship(image: str) -> str:
        updated = kube.request(
            "PATCH",
            kube.path(KIND, ns, "quality"),
            body={"spec": {"image": image}},
            content_type="application/merge-patch+json",
        )
        return revision("quality", parse_application(updated).spec)

    def gate_done(candidate: str) -> dict:
        def done() -> dict | None:
            status = kube.get(KIND, ns, "quality").get("status", {})
            finished = (status.get("evaluation") or {}).get("revision") == candidate
            return status if finished and status["rollout"]["phase"] != "Testing" else None

        return wait(done, 120, f"gate of {candidate}\n" + operator.log())

    def conditions(status: dict) -> dict[str, dict]:
        return {c["type"]: c for c in status["conditions"]}

    status = gate_done(ship("registry.example/chat:2.0.0"))
    assert status["rollout"]["phase"] == "Idle", status
    evaluation = status["evaluation"]
    assert evaluation["passed"] is True and evaluation["cases"] == 3
    assert evaluation["setSha256"] == hashlib.sha256(good.encode()).hexdigest()
    assert evaluation["scores"]["recall_at_k"] == 1.0 and evaluation["scores"]["refusal_accuracy"] == 1.0
    assert evaluation["promptVersions"], "the prompt versions that produced the answers are recorded"
    assert evaluation["scores"]["judge_groundedness"] >= 4 and evaluation["scores"]["judge_relevance"] >= 3
    assert evaluation["judgeDeployment"] == "judge" and evaluation["judgeUnscored"] == 0
    assert evaluation["judgePromptVersions"] == {"judge_groundedness": "1", "judge_relevance": "1"}
    assert conditions(status)["EvaluationPassed"]["status"] == "True"
    assert status["loadTest"]["passed"] is True
    image = kube.get("Deployment", ns, "quality")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example/chat:2.0.0"

    kube.request(
        "PATCH",
        kube.path("ConfigMap", ns, "evals"),
        body={"data": {"cases.jsonl": jsonl(WRONG_SOURCES)}},
        content_type="application/merge-patch+json",
    )
    status = gate_done(ship("registry.example/chat:3.0.0"))
    assert status["rollout"]["phase"] == "Failed", status
    conds = conditions(status)
    degraded = conds["Degraded"]
    assert degraded["status"] == "True" and degraded["reason"] == "EvaluationFailed"
    assert "recall_at_k 0.000 (needs >= 0.9)" in degraded["message"], degraded
    assert conds["EvaluationPassed"]["status"] == "False"
    assert conds["LoadTestPassed"]["status"] == "True", "only the answers were wrong, not the speed"
    assert status["evaluation"]["passed"] is False
    assert status["evaluation"]["failedMetric"] == "recall_at_k 0.000 (needs >= 0.9)"
    image = kube.get("Deployment", ns, "quality")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example/chat:2.0.0", "the failed revision was rolled back"
