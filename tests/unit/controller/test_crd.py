"""The committed CRD is exactly what the spec model generates, and it is a structural schema."""

from __future__ import annotations

from typing import Any

import yaml

from chatfleet.controller import spec as spec_module
from chatfleet.controller.cel import Cel
from chatfleet.controller.crd import CRD_PATH, crd_manifest, crd_yaml


def _walk(node: dict[str, Any], path: str = ""):
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _walk(child, f"{path}.{name}")
    if "items" in node:
        yield from _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}{{}}")


def _schema() -> dict[str, Any]:
    return crd_manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_committed_crd_equals_generated() -> None:
    assert CRD_PATH.read_text() == crd_yaml(), "run `chatfleet crd generate --write` and commit the result"


def test_schema_is_structural() -> None:
    for path, node in _walk(_schema()):
        assert not {"$ref", "anyOf", "allOf", "oneOf", "title", "const"} & node.keys(), path
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path


def test_every_spec_and_status_field_has_a_description() -> None:
    schema = _schema()
    for part in ("spec", "status"):
        for path, node in _walk(schema["properties"][part], part):
            assert node.get("description") or path.endswith("[]") or path.endswith("}"), path


def test_every_cel_rule_of_the_model_is_in_the_crd() -> None:
    text = yaml.safe_dump(crd_manifest(), width=10_000)
    rules = [v for v in vars(spec_module).values() if isinstance(v, Cel)]
    assert len(rules) >= 12
    for rule in rules:
        assert rule.rule in text or yaml.safe_dump(rule.rule, width=10_000).strip() in text, rule.message


def test_printer_columns_and_status_subresource() -> None:
    version = crd_manifest()["spec"]["versions"][0]
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["TTFT p95"] == ".status.loadTest.ttftP95Ms"
    assert set(columns) >= {"Ready", "Replicas", "Revision", "Age", "LoadTest"}
    assert version["subresources"] == {"status": {}}
    assert crd_manifest()["spec"]["names"]["shortNames"] == ["chatapp"]


def test_defaults_of_nested_objects_are_filled_by_the_api_server() -> None:
    spec = _schema()["properties"]["spec"]["properties"]
    # spelled out in full: the API server checks CEL rules against a default as written
    assert spec["scaling"]["default"] == {
        "minReplicas": 2,
        "maxReplicas": 10,
        "ttftP95TargetMs": 1200,
        "scaleDownStabilizationSeconds": 300,
    }
    assert spec["scaling"]["properties"]["minReplicas"]["default"] == 2
    rollout_default = spec["rollout"]["default"]
    assert rollout_default["loadTest"]["slo"]["ttftP95Ms"] == 1500 and rollout_default["gateTimeout"] == "15m"
    load_test = spec["rollout"]["properties"]["loadTest"]
    assert load_test["properties"]["slo"]["default"]["minTokensPerSecond"] == 20
    assert spec["scaling"]["properties"]["streamsPerReplica"]["nullable"] is True
