"""values.yaml and values.schema.json describe the same values, every one of them documented.

A platform team reads values.yaml as the chart's manual and relies on the schema to catch typos, so a
value missing from either (or undocumented) is a bug in the chart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

from chatfleet.contracts.resource import CRD_NAME
from chatfleet.paths import HELM_DIR

CHART = HELM_DIR / "chatfleet"
VALUES_FILE = CHART / "values.yaml"
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
VALUES = yaml.safe_load(VALUES_FILE.read_text())
KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):")


def closed_properties(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(dotted path, property schema, is_leaf) for every property of the objects the chart closes."""
    for key, prop in schema.get("properties", {}).items():
        dotted = f"{path}.{key}" if path else key
        closed = prop.get("additionalProperties") is False and "properties" in prop
        yield dotted, prop, not closed
        if closed:
            yield from closed_properties(prop, dotted)


def commented_keys(text: str) -> dict[str, bool]:
    """Dotted path of every key in values.yaml -> whether a `#` comment line sits right above it."""
    result: dict[str, bool] = {}
    stack: list[tuple[int, str]] = []
    previous = ""
    for line in text.splitlines():
        match = KEY_LINE.match(line)
        if match and not line.lstrip().startswith("-"):
            indent = len(match["indent"])
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, match["key"]))
            result[".".join(key for _, key in stack)] = previous.lstrip().startswith("#")
        if line.strip():
            previous = line
    return result


def test_values_yaml_satisfies_its_schema() -> None:
    errors = [str(e) for e in jsonschema_rs.Draft7Validator(SCHEMA).iter_errors(VALUES)]
    assert errors == []


def test_every_chart_object_is_closed_so_typos_are_rejected() -> None:
    assert SCHEMA["additionalProperties"] is False
    sections = [path for path, prop, leaf in closed_properties(SCHEMA) if not leaf]
    assert {"crds", "operator", "operator.image", "rbac", "networkPolicy", "metrics"} <= set(sections)


def test_every_schema_property_has_a_description() -> None:
    missing = [path for path, prop, _ in closed_properties(SCHEMA) if not prop.get("description")]
    assert missing == []


def test_every_value_in_values_yaml_is_in_the_schema_and_documented() -> None:
    documented = commented_keys(VALUES_FILE.read_text())
    properties = {path: leaf for path, _, leaf in closed_properties(SCHEMA)}
    sections = {path for path, leaf in properties.items() if not leaf}
    # Keys below a leaf (e.g. operator.resources.requests.cpu) are the leaf's default, not values.
    chart_keys = {path for path in documented if "." not in path or path.rsplit(".", 1)[0] in sections}
    assert sorted(chart_keys - properties.keys()) == [], "values.yaml keys the schema does not know"
    leaves = {path for path, leaf in properties.items() if leaf and path != "global"}
    assert sorted(leaves - documented.keys()) == [], "schema properties without a default in values.yaml"
    assert sorted(path for path in leaves if not documented[path]) == [], "values without a comment"


def test_schema_rejects_a_typo_with_the_offending_key() -> None:
    bad = {**VALUES, "operator": {**VALUES["operator"], "replicas": 3}}
    messages = [str(e) for e in jsonschema_rs.Draft7Validator(SCHEMA).iter_errors(bad)]
    assert any("replicas" in message for message in messages), messages


def test_chart_crd_is_the_repository_crd_not_a_copy() -> None:
    """The chart reads the CRD through a symlink to crds/, so the generated file is the only source."""
    link = CHART / "files" / f"{CRD_NAME}.yaml"
    assert link.is_symlink()
    assert link.resolve() == (HELM_DIR.parent / "crds" / f"{CRD_NAME}.yaml").resolve()
    assert Path(link.readlink()).is_absolute() is False, "an absolute link would break in a clone elsewhere"
