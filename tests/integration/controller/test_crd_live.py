"""The generated CRD on a real API server: accepted, defaulted, and every CEL rule fires with its message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from chatfleet.contracts.endpoints import IDENTITY, SIGN_IN, UPSTREAM
from chatfleet.contracts.resource import KIND
from chatfleet.controller.kube import KubeClient
from chatfleet.controller.loading import InvalidResource, parse_application
from tests.helpers.merge_patch import merged

CASES = yaml.safe_load((Path(__file__).resolve().parents[2] / "unit/controller/cel_cases.yaml").read_text())
ENDPOINTS = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "unit/contracts/endpoint_cases.yaml").read_text()
)
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def server_dry_run_create(kube: KubeClient, doc: dict[str, Any], namespace: str) -> dict[str, Any]:
    doc = merged(doc, {"metadata": {"namespace": namespace}})
    return kube.request("POST", kube.path(KIND, namespace), body=doc, query={"dryRun": "All"})


def test_crd_is_established_and_defaults_apply(crd, kube: KubeClient, private_namespace: str) -> None:
    created = server_dry_run_create(kube, CASES["base"], private_namespace)
    spec = created["spec"]
    assert spec["scaling"] == {
        "minReplicas": 2,
        "maxReplicas": 10,
        "ttftP95TargetMs": 1200,
        "scaleDownStabilizationSeconds": 300,
    }
    assert spec["rollout"]["strategy"] == "Gated"
    assert spec["rollout"]["loadTest"]["slo"] == {
        "ttftP95Ms": 1500,
        "errorRatePercent": 1,
        "minTokensPerSecond": 20,
    }
    assert spec["openai"]["deployments"][0]["weight"] == 100
    # what the API server defaulted, the model defaults identically
    assert parse_application(created).spec.model_dump(by_alias=True, exclude_none=True, mode="json") == spec


@pytest.mark.parametrize("example", ["minimal.yaml", "production.yaml"])
def test_examples_are_accepted(crd, kube: KubeClient, private_namespace: str, example: str) -> None:
    for doc in yaml.safe_load_all((EXAMPLES / example).read_text()):
        if doc["kind"] == KIND:
            server_dry_run_create(kube, doc, private_namespace)


@pytest.mark.parametrize("case", CASES["cases"], ids=lambda c: c["id"])
def test_cel_rule_rejects_with_its_message_on_server_and_in_model(
    case: dict[str, Any], crd, kube: KubeClient, private_namespace: str
) -> None:
    expected = f"{case.get('server_field', case['field'])}: Invalid value"
    if case.get("live_only"):
        doc = merged(CASES["base"], {"metadata": {"name": case["id"], "namespace": private_namespace}})
        kube.create(doc)
        live = kube.get(KIND, private_namespace, case["id"])
        changed = merged(live, case["update"])
        with pytest.raises(ApiException) as raised:
            kube.request("PUT", kube.path(KIND, private_namespace, case["id"]), body=changed)
    else:
        doc = merged(CASES["base"], case["patch"])
        with pytest.raises(InvalidResource) as model_error:
            parse_application(doc)
        assert f"{case['field']}: {case['message']}" in model_error.value.errors
        with pytest.raises(ApiException) as raised:
            server_dry_run_create(kube, doc, private_namespace)
    assert raised.value.status == 422, raised.value.body
    message = json.loads(raised.value.body)["message"]
    assert case["message"] in message and expected in message, message


@pytest.mark.parametrize("case", ENDPOINTS, ids=lambda c: c["url"])
def test_api_server_accepts_exactly_the_endpoints_the_service_accepts(
    case: dict[str, Any], crd, kube: KubeClient, private_namespace: str
) -> None:
    """The endpoint table on the real CEL evaluator: every endpoint field, one dry-run create each."""
    url = case["url"]
    openai = {"deployments": [{"name": "east", "endpoint": url, "deployment": "gpt-4o"}]}
    fields = {
        "spec.openai.deployments[0].endpoint": ({"spec": {"openai": openai}}, UPSTREAM),
        "spec.search.endpoint": ({"spec": {"search": {"endpoint": url, "index": "docs"}}}, UPSTREAM),
        "spec.auth.issuer": ({"spec": {"auth": {"issuer": url, "audience": "api://x"}}}, IDENTITY),
        "spec.auth.signIn.authority": (
            {"spec": {"auth": {"signIn": {"clientId": "spa", "authority": url}}}},
            SIGN_IN,
        ),
    }
    column = {UPSTREAM: "upstream", IDENTITY: "identity", SIGN_IN: "sign_in"}
    for field, (patch, rule) in fields.items():
        assert rule.allows(url) is case[column[rule]]
        doc = merged(CASES["base"], patch)
        if rule.allows(url):
            server_dry_run_create(kube, doc, private_namespace)
            continue
        with pytest.raises(ApiException) as raised:
            server_dry_run_create(kube, doc, private_namespace)
        assert raised.value.status == 422, raised.value.body
        message = json.loads(raised.value.body)["message"]
        assert f"{field}: Invalid value" in message and rule.message in message, message
