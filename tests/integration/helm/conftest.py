"""Fixtures of the chart's integration tests: helm (built from source) and `helm template` output."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatfleet.devcluster import tools
from chatfleet.paths import HELM_DIR

CHART = HELM_DIR / "chatfleet"
Manifest = dict[str, Any]


@pytest.fixture(scope="session")
def helm_binary() -> Path:
    return tools.ensure_built(["helm"])["helm"]


@pytest.fixture(scope="session")
def helm_template(helm_binary: Path) -> Callable[..., list[Manifest]]:
    """`helm template --include-crds` with dotted-path values; the parsed manifests."""

    def _template(values: dict[str, Any], namespace: str, release: str = "cf") -> list[Manifest]:
        flags = [arg for key, value in values.items() for arg in ("--set-json", f"{key}={json.dumps(value)}")]
        result = subprocess.run(
            [str(helm_binary), "template", release, str(CHART), "-n", namespace, "--include-crds", *flags],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    return _template
