"""Reading ChatApplications from YAML and explaining why one is invalid, field by field."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from chatfleet.contracts.resource import KIND
from chatfleet.controller.dev_mode import local_dev_mode
from chatfleet.controller.render import render
from chatfleet.controller.spec import ChatApplication


class InvalidResource(ValueError):
    """A document that is not a valid ChatApplication; `errors` name the fields."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def field_path(loc: tuple[int | str, ...]) -> str:
    """("spec", "openai", "deployments", 0, "endpoint") -> "spec.openai.deployments[0].endpoint"."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def describe(error: ValidationError, prefix: str = "") -> list[str]:
    """One line per problem: `<field path>: <message>` (the same message the CEL rule gives)."""
    lines = []
    for item in error.errors():
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-after")))
        lines.append(f"{prefix}{field_path(loc) or '<document>'}: {item['msg']}")
    return lines


def parse_application(document: dict[str, Any], prefix: str = "") -> ChatApplication:
    try:
        return ChatApplication.model_validate(document)
    except ValidationError as error:
        raise InvalidResource(describe(error, prefix)) from None


def load_applications(text: str) -> list[ChatApplication]:
    """Every ChatApplication in a YAML stream; other kinds (e.g. a prompts ConfigMap) are skipped."""
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as error:
        raise InvalidResource([f"not valid YAML: {error}"]) from None
    apps, errors = [], []
    for index, document in enumerate(documents):
        if not isinstance(document, dict):
            errors.append(f"document {index}: expected a mapping, got {type(document).__name__}")
            continue
        if document.get("kind", KIND) != KIND:
            continue
        prefix = f"document {index}: " if len(documents) > 1 else ""
        try:
            apps.append(parse_application(document, prefix))
        except InvalidResource as problem:
            errors += problem.errors
    if errors:
        raise InvalidResource(errors)
    if not apps:
        raise InvalidResource(["no ChatApplication found (kind: ChatApplication)"])
    return apps


def render_stream(apps: list[ChatApplication], dev_mode: bool = False) -> str:
    """The children of all apps as one YAML stream, ready for `kubectl apply -f -` or a GitOps repo;
    `dev_mode`: with the operator's dev-mode transform, as the local stack's operator applies them."""
    manifests = [m for app in apps for m in (local_dev_mode(render(app)) if dev_mode else render(app))]
    return yaml.safe_dump_all(manifests, sort_keys=False, width=120)
