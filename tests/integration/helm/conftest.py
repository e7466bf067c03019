"""Fixtures of the chart's integration tests: helm (built from source), `helm template` output, and a
control plane of this folder's own for the tests that install releases.

Releases install, keep and finally delete the cluster-scoped ChatApplication CRD, which other parts' tests
rely on in the session's shared cluster, so those tests get their own API server (etcd, kube-apiserver,
kube-controller-manager; no nodes).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatfleet.devcluster import tools
from chatfleet.devcluster.cluster import LocalCluster
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


@pytest.fixture(scope="package")
def release_cluster() -> Iterator[LocalCluster]:
    with LocalCluster(nodes=0) as local:
        yield local


@pytest.fixture(scope="session")
def helm_cli(helm_binary: Path) -> Callable[..., str]:
    """Runs `helm ARGS --kubeconfig K` and returns stdout; a failure shows helm's own message."""

    def _helm(cluster: LocalCluster, *args: str) -> str:
        result = subprocess.run(
            [str(helm_binary), *args, "--kubeconfig", str(cluster.kubeconfig)],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    return _helm
