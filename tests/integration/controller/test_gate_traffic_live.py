"""The gate's traffic on the real control plane: a resource declaring its own conversations, a workload
identity token and a canary deployment pool is admitted; the gate Job mounts the conversations, runs as the
federated ServiceAccount the operator created, and the canary's ConfigMap carries the canary pool while the
stable one keeps production's. KWOK completes the Job, so the gate passes and the revision is promoted."""

from __future__ import annotations

import json
from typing import Any

from chatfleet.controller import naming as n
from chatfleet.controller.kube import KubeClient
from tests.integration.controller.test_gate_live import app_status, set_image

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
TRAFFIC = {
    "spec": {
        "tenants": ["contoso", "fabrikam"],
        "rollout": {
            "strategy": "Gated",
            "gateTimeout": "30s",
            "loadTest": {
                "duration": "5s",
                "conversations": {"configMapRef": "chats"},
                "token": {"workloadIdentity": {"clientId": CLIENT_ID}},
            },
            "canaryDeployments": [
                {"name": "sim", "endpoint": "http://simulator.chatfleet-dev.svc:8080", "deployment": "gpt-4o"}
            ],
        },
    }
}


def _pool(config_map: dict[str, Any]) -> list[str]:
    return [d["name"] for d in json.loads(config_map["data"]["CHATFLEET_OPENAI_DEPLOYMENTS"])]


def test_gate_replays_the_apps_conversations_as_its_identity_on_the_canary_pool(
    operator, kube: KubeClient, namespace: str, app_doc, wait
) -> None:
    name = "traffic"
    kube.create(app_doc(name, namespace, TRAFFIC))
    wait(lambda: app_status(kube, namespace, name).get("revision", {}).get("current"), 30, operator.log())
    candidate = set_image(kube, namespace, name, "registry.example/chat:2.0.0")

    canary_config = f"{n.config_name(name, candidate)}-canary"
    config = wait(
        lambda: kube.get("ConfigMap", namespace, canary_config), 30, "canary ConfigMap\n" + operator.log()
    )
    assert _pool(config) == ["sim"]
    jobs = wait(
        lambda: kube.list("Job", namespace, f"{n.INSTANCE}={name}"), 30, "gate Job\n" + operator.log()
    )
    template = jobs[0]["spec"]["template"]
    pod = template["spec"]
    assert pod["serviceAccountName"] == f"{name}-loadtest"
    assert template["metadata"]["labels"][n.WORKLOAD_IDENTITY_USE] == "true"
    (volume,) = [v["configMap"] for v in pod["volumes"] if v["name"] == "conversations"]
    assert volume["name"] == "chats"
    args = pod["containers"][0]["args"]
    assert args[args.index("--token-source") + 1] == "workload-identity"
    assert [args[i + 1] for i, a in enumerate(args) if a == "--tenant"] == ["contoso", "fabrikam"]
    account = kube.get("ServiceAccount", namespace, f"{name}-loadtest")
    assert account is not None
    assert account["metadata"]["annotations"][n.WORKLOAD_IDENTITY_CLIENT_ID] == CLIENT_ID

    status = wait(
        lambda: (
            (s := app_status(kube, namespace, name)).get("revision", {}).get("current") == candidate and s
        ),
        60,
        "promotion\n" + operator.log(),
    )
    assert status["rollout"]["phase"] in ("Idle", "Baking")
    stable = kube.get("ConfigMap", namespace, n.config_name(name, candidate))
    assert stable is not None and _pool(stable) == ["east"], (
        "the promoted revision serves on production's pool"
    )
    wait(lambda: kube.get("ConfigMap", namespace, canary_config) is None, 30, "canary ConfigMap pruned")
