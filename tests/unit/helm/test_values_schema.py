"""Bad values stop `helm install` before anything reaches the cluster, with the offending value's path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

BAD_VALUES: list[tuple[dict[str, Any], str, str]] = [
    ({"operator.replicaCount": 0}, "/operator/replicaCount", "minimum: got 0, want 1"),
    ({"operator.replicas": 3}, "/operator", "additional properties 'replicas' not allowed"),
    ({"operator.image.pullPolicy": "Sometimes"}, "/operator/image/pullPolicy", "must be one of"),
    ({"operator.image.digest": "sha256:abc"}, "/operator/image/digest", "does not match pattern"),
    ({"operator.watchNamespaces": ["Team_A"]}, "/operator/watchNamespaces/0", "'Team_A' does not match"),
    ({"operator.watchNamespaces": ["a", "a"]}, "/operator/watchNamespaces", "are equal"),
    (
        {"operator.securityContext.allowPrivilegeEscalation": True},
        "/operator/securityContext/allowPrivilegeEscalation",
        "value must be false",
    ),
    (
        {"operator.podSecurityContext.runAsNonRoot": False},
        "/operator/podSecurityContext/runAsNonRoot",
        "value must be true",
    ),
    (
        {"operator.securityContext.capabilities": {"drop": ["NET_RAW"]}},
        "/operator/securityContext/capabilities/drop",
        "value must be 'ALL'",
    ),
    ({"operator.healthPort": 80}, "/operator/healthPort", "minimum"),
    ({"crds.install": "yes"}, "/crds/install", "got string, want boolean"),
    ({"networkPolicy.apiServer.cidrs": ["10.0.0.1"]}, "/networkPolicy/apiServer/cidrs/0", "does not match"),
    ({"networkPolicy.apiServer.ports": []}, "/networkPolicy/apiServer/ports", "minItems"),
    ({"metrics.serviceMonitor.interval": "15"}, "/metrics/serviceMonitor/interval", "does not match"),
    (
        {"metrics.prometheusAdapter.ttftSource": "summary"},
        "/metrics/prometheusAdapter/ttftSource",
        "must be one of 'histogram', 'gauge'",
    ),
]


@pytest.mark.parametrize(("values", "path", "phrase"), BAD_VALUES, ids=[p for _, p, _ in BAD_VALUES])
def test_schema_rejects_bad_value_naming_it(
    rejection: Callable[[dict[str, Any]], str], values: dict[str, Any], path: str, phrase: str
) -> None:
    message = rejection(values)
    assert f"at '{path}'" in message, message
    assert phrase in message, message


def test_missing_service_account_name_is_explained(rejection: Callable[[dict[str, Any]], str]) -> None:
    message = rejection({"serviceAccount.create": False})
    assert "serviceAccount.name: set the name of an existing ServiceAccount" in message
