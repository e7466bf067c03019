"""The endpoint rule has one home: the CRD (CEL, evaluated by a CEL library) and the chat service accept
and refuse exactly the URLs of the table, for every field that carries an endpoint."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml
from pydantic import ValidationError

from chatfleet.chat.config import Settings
from chatfleet.contracts.endpoints import IDENTITY, SIGN_IN, UPSTREAM, EndpointRule, is_loopback_host
from chatfleet.controller.crd import CRD_PATH

CASES = yaml.safe_load(Path(__file__).with_name("endpoint_cases.yaml").read_text())
# CRD field (path of schema properties) -> the policy, and the chat setting the operator renders it into.
FIELDS: dict[str, tuple[tuple[str, ...], EndpointRule, str]] = {
    "spec.openai.deployments[].endpoint": (
        ("spec", "openai", "deployments", "[]", "endpoint"),
        UPSTREAM,
        "openai_deployments",
    ),
    "spec.search.endpoint": (("spec", "search", "endpoint"), UPSTREAM, "search_endpoint"),
    "spec.auth.issuer": (("spec", "auth", "issuer"), IDENTITY, "auth_issuer"),
    "spec.auth.signIn.authority": (("spec", "auth", "signIn", "authority"), SIGN_IN, "auth_authority"),
}


@functools.cache
def _crd_rule(path: tuple[str, ...]) -> str:
    node = yaml.safe_load(CRD_PATH.read_text())["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for name in path:
        node = node["items"] if name == "[]" else node["properties"][name]
    (validation,) = node["x-kubernetes-validations"]
    return validation["rule"]


@functools.cache
def _cel_program(rule: str) -> celpy.Runner:
    env = celpy.Environment()
    return env.program(env.compile(rule))


def _cel_allows(rule: str, url: str) -> bool:
    return bool(_cel_program(rule).evaluate({"self": celpy.celtypes.StringType(url)}))


def _service_allows(monkeypatch: pytest.MonkeyPatch, setting: str, url: str) -> bool:
    env = {"CHATFLEET_AUTH_MODE": "none", "CHATFLEET_DEV_MODE": "true"}
    if setting == "openai_deployments":
        env["CHATFLEET_OPENAI_DEPLOYMENTS"] = json.dumps([{"name": "a", "endpoint": url, "deployment": "d"}])
    else:
        env[f"CHATFLEET_{setting.upper()}"] = url
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        Settings()
    except ValidationError:
        return False
    return True


def _expected(case: dict[str, Any], rule: EndpointRule) -> bool:
    return {UPSTREAM: case["upstream"], IDENTITY: case["identity"], SIGN_IN: case["sign_in"]}[rule]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["url"])
def test_python_rule_follows_the_table(case: dict[str, Any]) -> None:
    assert UPSTREAM.allows(case["url"]) is case["upstream"]
    assert IDENTITY.allows(case["url"]) is case["identity"]
    assert SIGN_IN.allows(case["url"]) is case["sign_in"]


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c["url"])
def test_crd_and_service_agree(
    monkeypatch: pytest.MonkeyPatch, clean_env: None, case: dict[str, Any], field: str
) -> None:
    path, rule, setting = FIELDS[field]
    expected = _expected(case, rule)
    assert _cel_allows(_crd_rule(path), case["url"]) is expected, "CRD (CEL)"
    assert _service_allows(monkeypatch, setting, case["url"]) is expected, f"chat service ({setting})"


def test_crd_rule_is_generated_from_the_contract() -> None:
    for path, rule, _ in FIELDS.values():
        assert _crd_rule(path) == rule.cel_rule()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("localhost", True), ("0.0.0.0", False),
     ("10.0.0.1", False), ("localhost.example", False), ("[::1]", False)],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("CHATFLEET_"):
            monkeypatch.delenv(key)
