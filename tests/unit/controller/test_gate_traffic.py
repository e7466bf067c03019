"""The gate sends what users will send: the app's conversations for its tenants, a token that is minted per
run (or a Secret's), and a canary that spends its own deployment pool instead of production quota."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from chatfleet.contracts.loadtest import EXIT_USAGE, TOKEN_ENV, LoadTestSummary
from chatfleet.controller import naming as n
from chatfleet.controller.loading import parse_application
from chatfleet.controller.render import render, revision
from chatfleet.controller.rollout.job_runner import job_manifest, service_account_manifest
from chatfleet.controller.rollout.local_runner import LocalProcessRunner
from chatfleet.controller.rollout.runner import GateRun
from chatfleet.controller.rollout.verdict import verdict_from_exit
from chatfleet.controller.spec import ChatApplication


def gate_run(app: ChatApplication) -> GateRun:
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
        tenants=tuple(app.spec.tenants),
        audience=app.spec.auth.audience,
    )


def pod_of(make_app, patch: dict[str, Any]) -> dict[str, Any]:
    return job_manifest(gate_run(parse_application(make_app(patch))))["spec"]["template"]["spec"]


def load_test(token: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    return {"spec": {"rollout": {"loadTest": {**fields, **({"token": token} if token else {})}}}}


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_the_gate_replays_the_apps_conversations_for_its_tenants(make_app) -> None:
    patch = load_test(conversations={"configMapRef": "bot-conversations", "key": "chats.jsonl"})
    patch["spec"]["tenants"] = ["contoso", "northwind"]
    pod = pod_of(make_app, patch)
    (loadtest,) = pod["containers"]
    args = loadtest["args"]
    mount = next(m for m in loadtest["volumeMounts"] if m["name"] == "conversations")
    assert mount["readOnly"] is True and flag(args, "--conversations").startswith(mount["mountPath"] + "/")
    assert [args[i + 1] for i, a in enumerate(args) if a == "--tenant"] == ["contoso", "northwind"]
    volume = next(v for v in pod["volumes"] if v["name"] == "conversations")
    file_name = flag(args, "--conversations").rsplit("/", 1)[1]
    assert volume["configMap"] == {
        "name": "bot-conversations",
        "items": [{"key": "chats.jsonl", "path": file_name}],
        "optional": True,  # a missing ConfigMap fails the run with the CLI's message, not a gate timeout
    }


def test_without_conversations_the_gate_replays_the_samples_for_the_sample_tenants(make_app) -> None:
    pod = pod_of(make_app, {"spec": {"tenants": ["contoso"]}})
    args = pod["containers"][0]["args"]
    assert "--conversations" not in args and "--tenant" not in args
    assert [v["name"] for v in pod["volumes"]] == ["tmp"]


def test_default_token_is_the_optional_static_secret(make_app) -> None:
    pod = pod_of(make_app, {})
    (loadtest,) = pod["containers"]
    assert env_of(loadtest)[TOKEN_ENV] == {
        "secretKeyRef": {"name": "bot-loadtest-token", "key": "token", "optional": True}
    }
    assert "--token-source" not in loadtest["args"] and "serviceAccountName" not in pod


def test_a_named_static_secret_is_read_by_its_key(make_app) -> None:
    pod = pod_of(make_app, load_test({"staticSecret": {"secretRef": "gate-token", "key": "bearer"}}))
    ref = env_of(pod["containers"][0])[TOKEN_ENV]["secretKeyRef"]
    assert (ref["name"], ref["key"]) == ("gate-token", "bearer")


def test_client_credentials_come_from_the_secret_and_the_cli_mints_for_the_audience(make_app) -> None:
    token = {"clientCredentials": {"secretRef": "gate-app", "clientSecretKey": "secret"}}
    pod = pod_of(make_app, load_test(token))
    (loadtest,) = pod["containers"]
    env = env_of(loadtest)
    assert TOKEN_ENV not in env, "no static token beside a minted one"
    refs = {
        name: (env[name]["secretKeyRef"]["name"], env[name]["secretKeyRef"]["key"])
        for name in env
        if name.startswith("AZURE_")
    }
    assert refs == {
        "AZURE_TENANT_ID": ("gate-app", "tenantId"),
        "AZURE_CLIENT_ID": ("gate-app", "clientId"),
        "AZURE_CLIENT_SECRET": ("gate-app", "secret"),
    }
    args = loadtest["args"]
    assert flag(args, "--token-source") == "client-credentials"
    assert flag(args, "--token-scope") == "api://cel-case/.default"
    assert not any("gate-app" in a for a in args), "credentials never on argv"
    assert "serviceAccountName" not in pod


def test_client_credentials_for_another_cloud_set_the_authority_host(make_app) -> None:
    token = {
        "clientCredentials": {"secretRef": "gate-app", "authorityHost": "https://login.microsoftonline.us"}
    }
    env = env_of(pod_of(make_app, load_test(token))["containers"][0])
    assert env["AZURE_AUTHORITY_HOST"] == "https://login.microsoftonline.us"


def test_workload_identity_runs_the_gate_as_its_own_federated_service_account(make_app) -> None:
    token = {"workloadIdentity": {"clientId": "11111111-2222-3333-4444-555555555555", "tenantId": "t-1"}}
    app = parse_application(make_app(load_test(token)))
    run = gate_run(app)
    job = job_manifest(run)
    template = job["spec"]["template"]
    (loadtest,) = template["spec"]["containers"]
    assert template["spec"]["serviceAccountName"] == "bot-loadtest"
    assert template["metadata"]["labels"][n.WORKLOAD_IDENTITY_USE] == "true"
    assert not any(name.startswith("AZURE_") or name == TOKEN_ENV for name in env_of(loadtest))
    assert flag(loadtest["args"], "--token-source") == "workload-identity"
    account = service_account_manifest(run)
    assert account is not None and account["metadata"]["name"] == "bot-loadtest"
    assert account["metadata"]["annotations"] == {
        n.WORKLOAD_IDENTITY_CLIENT_ID: "11111111-2222-3333-4444-555555555555",
        n.WORKLOAD_IDENTITY_TENANT_ID: "t-1",
    }
    assert account["metadata"]["ownerReferences"][0]["uid"] == "u"
    assert n.LOADTEST_FOR in account["metadata"]["labels"]


def test_no_service_account_without_workload_identity(make_app) -> None:
    assert service_account_manifest(gate_run(parse_application(make_app()))) is None


def test_local_runner_writes_the_conversations_to_the_run_directory(make_app, tmp_path: Path) -> None:
    app = parse_application(make_app(load_test(conversations={"configMapRef": "bot-chats"})))
    text = '{"tenant": "contoso", "turns": ["hi"]}\n'
    runner = LocalProcessRunner(read_config_map=lambda ns, name: {"data": {"conversations.jsonl": text}})
    path = runner.conversations_file(gate_run(app), tmp_path)
    assert path is not None and Path(path).read_text() == text
    args = gate_run(app).loadtest_args("s.json", "t", path)
    assert flag(args, "--conversations") == path
    missing = LocalProcessRunner(read_config_map=lambda ns, name: None)
    absent = missing.conversations_file(gate_run(app), tmp_path / "empty")
    assert absent is not None and not Path(absent).exists(), "the CLI names the unreadable file"


CANARY_POOL = [
    {"name": "test-quota", "endpoint": "https://aoai-test.openai.azure.com", "deployment": "gpt-4o-test"},
    {"name": "sim", "endpoint": "http://simulator.chatfleet-dev.svc:8080", "deployment": "gpt-4o"},
]


def _testing(make_app, patch: dict[str, Any]) -> tuple[ChatApplication, list[dict[str, Any]]]:
    app = parse_application(make_app(patch))
    promoted = app.spec.model_dump(by_alias=True, mode="json")
    app.spec.image = "registry.example/chat:2.0.0"
    app.status.revision.stable_spec = promoted
    app.status.revision.candidate = revision(app.metadata.name, app.spec)
    app.status.rollout.phase = "Testing"
    return app, render(app)


def _deployments_of(config_map: dict[str, Any]) -> list[str]:
    return [d["name"] for d in json.loads(config_map["data"]["CHATFLEET_OPENAI_DEPLOYMENTS"])]


def test_the_canary_spends_its_own_pool_and_stable_keeps_production(make_app) -> None:
    app, children = _testing(make_app, {"spec": {"rollout": {"canaryDeployments": CANARY_POOL}}})
    deployments = {d["metadata"]["name"]: d for d in children if d["kind"] == "Deployment"}
    config_maps = {c["metadata"]["name"]: c for c in children if c["kind"] == "ConfigMap"}

    def config_of(name: str) -> dict[str, Any]:
        pod = deployments[name]["spec"]["template"]["spec"]
        (ref,) = [e["configMapRef"]["name"] for e in pod["containers"][0]["envFrom"] if "configMapRef" in e]
        return config_maps[ref]

    canary, stable = config_of("cel-case-canary"), config_of("cel-case")
    assert _deployments_of(canary) == ["test-quota", "sim"]
    assert _deployments_of(stable) == ["east"]
    candidate = app.status.revision.candidate
    assert canary["metadata"]["name"] == f"{n.config_name('cel-case', candidate)}-canary", (
        "the promoted revision's stable pods must not read the canary's pool"
    )
    template = deployments["cel-case-canary"]["spec"]["template"]
    assert template["metadata"]["annotations"][n.REVISION] == candidate, "the revision is the spec's"
    policy = next(c for c in children if c["kind"] == "NetworkPolicy")
    ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert 8080 in ports, "the canary reaches its own pool"


def test_without_a_canary_pool_the_canary_shares_production(make_app) -> None:
    _, children = _testing(make_app, {})
    config_maps = [c for c in children if c["kind"] == "ConfigMap"]
    assert [_deployments_of(c) for c in config_maps] == [["east"], ["east"]]
    assert not any(c["metadata"]["name"].endswith("-canary") for c in config_maps)


def test_the_eval_beside_the_load_test_mints_its_token_the_same_way(make_app) -> None:
    patch = load_test({"clientCredentials": {"secretRef": "gate-app"}})
    patch["spec"]["rollout"]["evaluation"] = {"set": {"sample": True}, "maxLatencyMs": {"ttft_p95_ms": 3000}}
    app = parse_application(make_app(patch))
    run = replace(gate_run(app), evaluation=app.spec.rollout.evaluation)
    loadtest, evaluation = job_manifest(run)["spec"]["template"]["spec"]["containers"]
    assert flag(evaluation["args"], "--token-source") == "client-credentials"
    assert flag(evaluation["args"], "--token-scope") == "api://cel-case/.default"
    assert evaluation["env"] == loadtest["env"]


def test_a_token_source_that_cannot_mint_says_why_in_the_gate_verdict() -> None:
    error = "cannot get a token for api://bot/.default: AADSTS7000215: Invalid client secret."
    summary = LoadTestSummary.model_validate({"passed": False, "error": error})
    verdict = verdict_from_exit(EXIT_USAGE, summary, "http://bot-canary.ns.svc:8080")
    assert verdict.reason == "LoadTestMisconfigured"
    assert verdict.message == f"load test could not start: {error}"
