"""Conditions and the gate Job as the operator writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chatfleet.controller import naming as n
from chatfleet.controller.conditions import set_condition
from chatfleet.controller.loading import parse_application
from chatfleet.controller.render import revision
from chatfleet.controller.rollout.job_runner import job_manifest
from chatfleet.controller.rollout.machine import plan
from chatfleet.controller.rollout.runner import GateRun
from chatfleet.controller.rollout.verdict import GateVerdict
from chatfleet.controller.status import observed_status

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_transition_time_moves_only_when_status_flips() -> None:
    conds = set_condition([], "Ready", "False", "NotAvailable", "0/2", 1, T0)
    conds = set_condition(conds, "Ready", "False", "NotAvailable", "1/2", 2, T0 + timedelta(minutes=1))
    assert (
        conds[0].last_transition_time == T0
        and conds[0].message == "1/2"
        and conds[0].observed_generation == 2
    )
    conds = set_condition(conds, "Ready", "True", "Available", "2/2", 2, T0 + timedelta(minutes=2))
    assert conds[0].last_transition_time == T0 + timedelta(minutes=2)


def test_status_after_a_failed_gate(make_app) -> None:
    app = parse_application(
        make_app({"metadata": {"name": "bot", "namespace": "ns", "uid": "u", "generation": 1}})
    )
    app.status = plan(app, revision("bot", app.spec), lambda _: None, T0).status
    app.spec.image = "registry.example/chat:2.0.0"
    app.status = plan(app, revision("bot", app.spec), lambda _: None, T0).status
    failed = GateVerdict(False, "SLOFailed", "SLO failed: ttftP95Ms: measured 2130, limit 1500", None)
    step = plan(app, revision("bot", app.spec), lambda _: failed, T0)
    deployment = {
        "metadata": {"generation": 1},
        "status": {
            "replicas": 2,
            "readyReplicas": 2,
            "availableReplicas": 2,
            "updatedReplicas": 2,
            "observedGeneration": 1,
        },
    }
    status = observed_status(app, step, deployment, None, T0)
    conds = {c.type: c for c in status.conditions}
    assert conds["Ready"].status == "True" and conds["Ready"].reason == "Available"
    assert conds["Degraded"].status == "True" and conds["Degraded"].reason == "SLOFailed"
    assert "measured 2130" in conds["Degraded"].message
    assert conds["LoadTestPassed"].status == "False"
    assert conds["Progressing"].status == "False"
    assert status.endpoint == "http://bot.ns.svc:8000" and status.replicas == 2


def test_gate_job_is_restricted_and_targets_the_canary(make_app) -> None:
    app = parse_application(make_app({"metadata": {"name": "bot", "namespace": "ns", "uid": "u"}}))
    run = GateRun(
        app="bot",
        namespace="ns",
        uid="u",
        name="bot-gate-abc-2",
        revision="abc",
        target=n.canary_endpoint("bot", "ns"),
        image="img",
        load_test=app.spec.rollout.load_test,
        calibrate=True,
        timeout_seconds=900,
    )
    job = job_manifest(run)
    spec = job["spec"]
    assert spec["backoffLimit"] == 0 and spec["activeDeadlineSeconds"] == 900
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    args = container["args"]
    assert args[args.index("--host") + 1] == "http://bot-canary.ns.svc:8000"
    assert args[args.index("--slo-ttft-p95-ms") + 1] == "1500"
    assert args[args.index("--termination-message") + 1] == "/dev/termination-log"
    assert "--calibrate" in args
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    labels = spec["template"]["metadata"]["labels"]
    assert labels[n.LOADTEST_FOR] == "bot"
    assert labels["app.kubernetes.io/name"] != "chatfleet-chat", "the app's NetworkPolicy must not select it"
    assert job["metadata"]["ownerReferences"][0]["uid"] == "u"


@pytest.mark.parametrize(
    ("deployment_status", "generation", "ready", "reason", "progressing"),
    [
        ({"replicas": 2, "availableReplicas": 2, "updatedReplicas": 2, "observedGeneration": 3}, 3,
         "True", "Available", "False"),
        # a healthy rollout: not Ready (not fully reconciled), but not sent looking for failing pods either
        ({"replicas": 3, "availableReplicas": 3, "updatedReplicas": 1, "observedGeneration": 3}, 3,
         "False", "RollingOut", "True"),
        # the Deployment controller has not seen the new template yet: its counts describe the old one
        ({"replicas": 2, "availableReplicas": 2, "updatedReplicas": 2, "observedGeneration": 2}, 3,
         "False", "RollingOut", "True"),
        ({"replicas": 2, "availableReplicas": 0, "updatedReplicas": 2, "observedGeneration": 3}, 3,
         "False", "NotAvailable", "False"),
    ],
)  # fmt: skip
def test_ready_tells_a_rollout_from_an_outage(
    make_app, deployment_status: dict, generation: int, ready: str, reason: str, progressing: str
) -> None:
    app = parse_application(
        make_app({"metadata": {"name": "bot", "namespace": "ns", "uid": "u", "generation": 1}})
    )
    step = plan(app, revision("bot", app.spec), lambda _: None, T0)
    deployment = {"metadata": {"generation": generation}, "status": deployment_status}
    conds = {c.type: c for c in observed_status(app, step, deployment, None, T0).conditions}
    assert (conds["Ready"].status, conds["Ready"].reason) == (ready, reason), conds["Ready"].message
    assert conds["Progressing"].status == progressing
    if reason == "RollingOut":
        assert "keep serving" in conds["Ready"].message
    if reason == "NotAvailable":
        assert "describe deployment bot" in conds["Ready"].message


def test_status_shows_the_federated_credential_and_roles(make_app) -> None:
    app = parse_application(
        make_app(
            {
                "metadata": {"name": "bot", "namespace": "team-a", "uid": "u", "generation": 1},
                "spec": {
                    "search": {"endpoint": "https://s.search.windows.net", "index": "docs"},
                    "guards": {"mode": "promptShields", "contentSafetyEndpoint": "https://cs.example.com"},
                },
            }
        )
    )
    step = plan(app, revision("bot", app.spec), lambda _: None, T0)
    issuer = "https://oidc.prod-aks.azure.com/tenant/cluster/"
    azure = observed_status(app, step, None, None, T0, issuer).azure
    assert azure is not None
    assert azure.service_account_subject == "system:serviceaccount:team-a:bot"
    assert azure.oidc_issuer == issuer
    command = azure.federated_credential_command
    assert command.startswith("az identity federated-credential create --name chatfleet-team-a-bot ")
    assert f"--issuer {issuer} --subject system:serviceaccount:team-a:bot" in command
    assert "--audience api://AzureADTokenExchange" in command
    assert f"clientId=='{app.spec.identity.client_id}'" in command
    roles = " | ".join(azure.role_assignments)
    assert "Cognitive Services OpenAI User on https://aoai-east.openai.azure.com" in roles
    assert "Search Index Data Reader on https://s.search.windows.net" in roles
    assert "Cognitive Services User on https://cs.example.com" in roles


def test_without_the_issuer_the_command_asks_aks_for_it(make_app) -> None:
    app = parse_application(make_app({"metadata": {"name": "bot", "namespace": "ns", "generation": 1}}))
    step = plan(app, revision("bot", app.spec), lambda _: None, T0)
    azure = observed_status(app, step, None, None, T0).azure
    assert azure is not None and azure.oidc_issuer is None
    assert "--query oidcIssuerProfile.issuerUrl" in azure.federated_credential_command
    assert azure.role_assignments == ["Cognitive Services OpenAI User on https://aoai-east.openai.azure.com"]
