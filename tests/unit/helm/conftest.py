"""Shared fixtures for the chart's unit tests: the helm binary (built from source) and `helm template`."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatfleet.paths import HELM_DIR

CHART = HELM_DIR / "chatfleet"
Manifest = dict[str, Any]


@pytest.fixture(scope="session")
def helm() -> Path:
    """helm built from tools/helm through the Go module proxy (a no-op when the cached binary is current)."""
    from chatfleet.devcluster.tools import ensure_built

    return ensure_built(["helm"])["helm"]


def _template(helm: Path, values: dict[str, Any], namespace: str) -> subprocess.CompletedProcess[str]:
    # --set-json per value: each test states exactly the values it changes, with their JSON types.
    flags = [arg for key, value in values.items() for arg in ("--set-json", f"{key}={json.dumps(value)}")]
    return subprocess.run(
        [str(helm), "template", "cf", str(CHART), "--namespace", namespace, "--include-crds", *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="session")
def render(helm: Path) -> Callable[..., list[Manifest]]:
    """`helm template` with dotted-path values; the parsed manifests, CRDs included."""

    def _render(values: dict[str, Any] | None = None, namespace: str = "chatfleet-system") -> list[Manifest]:
        result = _template(helm, values or {}, namespace)
        assert result.returncode == 0, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    return _render


@pytest.fixture(scope="session")
def rejection(helm: Path) -> Callable[[dict[str, Any]], str]:
    """`helm template` that must fail; returns helm's message (what a platform team would read)."""

    def _rejection(values: dict[str, Any]) -> str:
        result = _template(helm, values, "chatfleet-system")
        assert result.returncode != 0, f"helm accepted {values}"
        return result.stderr

    return _rejection
