"""What the pods read from ConfigMaps the spec only names (prompts, documents, trust bundle): checked, then
hashed.

Checked before a rollout, so a bad prompt file sets Degraded naming the file and field instead of a
canary that cannot start; hashed into the revision, so new content goes through the gate like a spec change.
Kept free of kopf and the Kubernetes client (`get` is passed in) so unit tests drive it directly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from chatfleet.controller.spec import ChatApplication
from chatfleet.prompts.templates import SHIPPED_DIR, PromptTemplateError, load_folder, load_mapping, select

GetConfigMap = Callable[[str], dict[str, Any] | None]


class InputsError(ValueError):
    """A referenced ConfigMap is missing or wrong; `reason` is the Degraded condition's reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _config_map(get: GetConfigMap, name: str, field: str, namespace: str) -> dict[str, Any]:
    obj = get(name)
    if obj is None:
        raise InputsError(
            "ReferenceNotFound", f"{field}: ConfigMap {name} not found in namespace {namespace}"
        )
    return obj


def check_prompts(data: dict[str, str], pins: dict[str, str], where: str) -> dict[str, str]:
    """The prompt ConfigMap as the service will load it (shipped templates + these files + pins).

    Returns the selected version per id; raises PromptTemplateError naming the file and field."""
    _, selected = select([*load_folder(SHIPPED_DIR), *load_mapping(data, where)], pins)
    return {pid: p.version for pid, p in sorted(selected.items())}


def read_inputs(app: ChatApplication, get: GetConfigMap) -> str:
    """Digest of every referenced ConfigMap's content ("" when there are none), after checking them."""
    spec, namespace = app.spec, app.metadata.namespace
    content: list[Any] = []
    if spec.prompts:
        name = spec.prompts.config_map_ref
        cm = _config_map(get, name, "spec.prompts.configMapRef", namespace)
        if cm.get("binaryData"):
            raise InputsError(
                "InvalidPrompts", f"ConfigMap {name}: prompt files must be text (data), not binaryData"
            )
        data = cm.get("data") or {}
        try:
            check_prompts(data, spec.prompts.pins, f"ConfigMap {name}")
        except PromptTemplateError as error:
            raise InputsError("InvalidPrompts", str(error)) from None
        content.append(["prompts", name, data])
    for i, source in enumerate(spec.documents):
        name = source.config_map_ref
        cm = _config_map(get, name, f"spec.documents[{i}].configMapRef", namespace)
        content.append(["documents", source.tenant, name, cm.get("data") or {}, cm.get("binaryData") or {}])
    if spec.trust_bundle:
        name, key = spec.trust_bundle.config_map_ref, spec.trust_bundle.key
        cm = _config_map(get, name, "spec.trustBundle.configMapRef", namespace)
        bundle = (cm.get("data") or {}).get(key)
        if not bundle or "-----BEGIN CERTIFICATE-----" not in bundle:
            raise InputsError(
                "InvalidTrustBundle",
                f"ConfigMap {name}: key {key} must hold PEM certificates (spec.trustBundle)",
            )
        content.append(["trust", name, key, bundle])
    if not content:
        return ""
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]
