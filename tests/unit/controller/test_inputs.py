"""The operator checks and hashes the ConfigMaps a ChatApplication references before rolling out."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import yaml

from chatfleet.controller.context import OperatorContext
from chatfleet.controller.handlers.reconcile import reconcile
from chatfleet.controller.inputs import InputsError, check_prompts, read_inputs
from chatfleet.controller.loading import load_applications, parse_application
from chatfleet.controller.settings import OperatorSettings
from chatfleet.paths import EXAMPLES_DIR

ANSWER_V3 = (
    'id: answer\nversion: "3"\nkind: chat\nvariables: [question, sources]\n'
    "system: Cite [id].\nuser: '${question} ${sources}'\n"
)


def cm(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"kind": "ConfigMap", "metadata": {"name": name}, "data": data}


@pytest.mark.parametrize("example", sorted(EXAMPLES_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_examples_prompts_load(example: Any) -> None:
    docs = [d for d in yaml.safe_load_all(example.read_text()) if d]
    maps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    for app in load_applications(example.read_text()):
        read_inputs(app, maps.get)  # raises on a missing or bad ConfigMap
        if app.spec.prompts:
            data = maps[app.spec.prompts.config_map_ref]["data"]
            selected = check_prompts(data, app.spec.prompts.pins, "example")
            assert selected.items() >= app.spec.prompts.pins.items()


def app_with(make_app: Any, **spec: Any) -> Any:
    return parse_application(make_app({"metadata": {"name": "bot", "namespace": "ns"}, "spec": spec}))


@pytest.mark.parametrize(
    ("files", "pins", "reason", "message"),
    [
        (None, {}, "ReferenceNotFound", "spec.prompts.configMapRef: ConfigMap p not found in namespace ns"),
        (
            {"answer.v3.yaml": "name: answer\nversion: 3\n"},
            {},
            "InvalidPrompts",
            "ConfigMap p: answer.v3.yaml: id:",
        ),
        (
            {"answer.v3.yaml": ANSWER_V3},
            {"answer": "4"},
            "InvalidPrompts",
            "pinned prompt answer@4 not found",
        ),
        (
            {"answer.v3.yaml": ANSWER_V3, "notes.txt": "x"},
            {},
            "InvalidPrompts",
            "notes.txt: not a prompt file",
        ),
        (
            {"answer.v3.yaml": ANSWER_V3.replace("${sources}", "${sourcse}")},
            {},
            "InvalidPrompts",
            "answer.v3.yaml: placeholders not declared in variables: ['sourcse']",
        ),
    ],
)
def test_bad_prompt_config_maps_name_the_file_and_field(
    make_app: Any, files: dict[str, str] | None, pins: dict[str, str], reason: str, message: str
) -> None:
    app = app_with(make_app, prompts={"configMapRef": "p", "pins": pins})
    with pytest.raises(InputsError) as error:
        read_inputs(app, lambda name: cm(name, files) if files is not None else None)
    assert error.value.reason == reason and message in str(error.value)


def test_document_content_changes_the_digest(make_app: Any) -> None:
    app = app_with(make_app, documents=[{"configMapRef": "docs", "tenant": "contoso"}])
    first = read_inputs(app, lambda name: cm(name, {"a.md": "one"}))
    assert first and first == read_inputs(app, lambda name: cm(name, {"a.md": "one"}))
    assert first != read_inputs(app, lambda name: cm(name, {"a.md": "two"}))
    assert read_inputs(app_with(make_app), lambda name: None) == ""


PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_trust_bundle_is_checked_and_hashed(make_app: Any) -> None:
    app = app_with(make_app, trustBundle={"configMapRef": "corp-ca"})
    first = read_inputs(app, lambda name: cm(name, {"ca.crt": PEM}))
    assert first and first != read_inputs(app, lambda name: cm(name, {"ca.crt": PEM + PEM}))
    with pytest.raises(InputsError) as error:
        read_inputs(app, lambda name: None)
    assert error.value.reason == "ReferenceNotFound" and "spec.trustBundle.configMapRef" in str(error.value)
    with pytest.raises(InputsError) as error:
        read_inputs(app, lambda name: cm(name, {"other": PEM}))
    assert error.value.reason == "InvalidTrustBundle" and "key ca.crt must hold PEM" in str(error.value)


class RefusingKube:
    """Records status patches; any write of a child fails the test (no new revision may be applied)."""

    def __init__(self, objects: dict[tuple[str, str], dict[str, Any]]) -> None:
        self.objects = objects
        self.patches: list[dict[str, Any]] = []

    def get(self, kind: str, namespace: str, name: str, cached: bool = False) -> dict[str, Any] | None:
        return self.objects.get((kind, name))

    def patch_status(self, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self.patches.append(patch)

    def __getattr__(self, verb: str) -> Any:
        raise AssertionError(f"unexpected {verb} while the prompts are invalid")


def test_a_bad_prompt_config_map_degrades_without_a_new_revision(make_app: Any) -> None:
    body = make_app(
        {
            "metadata": {"name": "bot", "namespace": "ns", "uid": "u", "generation": 4},
            "spec": {"prompts": {"configMapRef": "p"}},
        }
    )
    body["status"] = {"revision": {"current": "abc", "stableSpec": {}}}
    kube = RefusingKube({("ConfigMap", "p"): cm("p", {"answer.v3.yaml": "name: answer\n"})})
    with ThreadPoolExecutor(1) as executor:
        ctx = OperatorContext(settings=OperatorSettings(), kube=kube, runner=None, executor=executor)  # type: ignore[arg-type]
        reconcile(ctx, body)
    (patch,) = kube.patches
    (degraded,) = patch["conditions"]
    assert (degraded["type"], degraded["status"], degraded["reason"]) == (
        "Degraded",
        "True",
        "InvalidPrompts",
    )
    assert "ConfigMap p: answer.v3.yaml: id: Field required" in degraded["message"]
    assert "revision" not in patch, "the serving revision stays"
