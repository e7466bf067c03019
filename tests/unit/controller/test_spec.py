"""The spec model rejects exactly what the CEL rules reject, with the same messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest
import yaml

from chatfleet.contracts.resource import API_VERSION, KIND
from chatfleet.controller.cel import parse_duration
from chatfleet.controller.loading import InvalidResource, load_applications, parse_application
from chatfleet.controller.spec import ChatApplication

CASES = yaml.safe_load(Path(__file__).with_name("cel_cases.yaml").read_text())["cases"]
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.mark.parametrize("case", [c for c in CASES if not c.get("live_only")], ids=lambda c: c["id"])
def test_model_rejects_bad_input_with_the_cel_message(case: dict[str, Any], make_app) -> None:
    with pytest.raises(InvalidResource) as raised:
        parse_application(make_app(case["patch"]))
    assert f"{case['field']}: {case['message']}" in raised.value.errors


def test_base_object_is_valid_and_gets_the_crd_defaults(make_app) -> None:
    app = parse_application(make_app())
    assert app.spec.scaling.min_replicas == 2 and app.spec.scaling.max_replicas == 10
    assert app.spec.rollout.strategy == "Gated"
    assert app.spec.rollout.load_test.slo.ttft_p95_ms == 1500
    assert app.spec.openai.deployments[0].weight == 100
    assert app.spec.auth.tenant_claim == "tid"


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://localhost:8080",
        "http://127.0.0.1:9000/openai",
        "http://simulator.team-a.svc:8080",
        "http://simulator.team-a.svc.cluster.local:8080",
        "https://aoai.openai.azure.com",
    ],
)
def test_http_is_allowed_only_for_development_hosts(endpoint: str, make_app) -> None:
    doc = make_app(
        {"spec": {"openai": {"deployments": [{"name": "a", "endpoint": endpoint, "deployment": "d"}]}}}
    )
    assert parse_application(doc).spec.openai.deployments[0].endpoint == endpoint


@pytest.mark.parametrize("endpoint", ["http://svc.evil.com", "http://localhost.evil.com", "ftp://x.svc"])
def test_lookalike_hosts_are_not_development_hosts(endpoint: str, make_app) -> None:
    doc = make_app(
        {"spec": {"openai": {"deployments": [{"name": "a", "endpoint": endpoint, "deployment": "d"}]}}}
    )
    with pytest.raises(InvalidResource):
        parse_application(doc)


def test_unknown_field_is_named(make_app) -> None:
    with pytest.raises(InvalidResource) as raised:
        parse_application(make_app({"spec": {"scalling": {"minReplicas": 1}}}))
    assert any(line.startswith("spec.scalling:") for line in raised.value.errors)


def test_missing_required_field_is_named(make_app) -> None:
    doc = make_app()
    del doc["spec"]["identity"]
    with pytest.raises(InvalidResource) as raised:
        parse_application(doc)
    assert "spec.identity: Field required" in raised.value.errors


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("2m", 120), ("1h30m", 5400), ("", None), ("2x", None)]
)
def test_go_duration_subset(text: str, seconds: int | None) -> None:
    assert parse_duration(text) == seconds


def test_examples_are_valid_chat_applications() -> None:
    minimal = load_applications((EXAMPLES / "minimal.yaml").read_text())
    production = load_applications((EXAMPLES / "production.yaml").read_text())
    assert len(minimal) == 1 and len(production) == 1
    prod = production[0].spec
    assert len(prod.tenants) == 2
    assert len({d.type for d in prod.openai.deployments}) == 3
    assert prod.rollout.strategy == "Gated"


def test_status_round_trips_in_camel_case(make_app) -> None:
    doc = make_app()
    doc["status"] = {
        "observedGeneration": 3,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
                "reason": "Available",
            }
        ],
        "revision": {"current": "abc", "stableSpec": doc["spec"]},
        "loadTest": {"ttftP95Ms": 980.5, "passed": True},
    }
    app = ChatApplication.model_validate(doc)
    dumped = app.status.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert dumped["loadTest"]["ttftP95Ms"] == 980.5
    assert dumped["conditions"][0]["lastTransitionTime"].startswith("2026-01-01T00:00:00")


def test_the_models_literal_coordinates_are_the_contracts() -> None:
    """Literal types take literal strings only, so the model spells them: they must be the contract's."""
    fields = ChatApplication.model_fields
    assert get_args(fields["api_version"].annotation) == (API_VERSION,)
    assert get_args(fields["kind"].annotation) == (KIND,)
    assert (fields["api_version"].default, fields["kind"].default) == (API_VERSION, KIND)
