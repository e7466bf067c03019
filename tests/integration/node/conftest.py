"""The real-node tier: one LocalCluster with a real kubelet, containerd and runc for the whole tier.

The images are built by BuildKit from images/ (cached: an unchanged tree rebuilds nothing) and imported
into the node's containerd before the kubelet starts. Only one real node can run on a machine at a time.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from chatfleet.devcluster.cluster import LocalCluster
from chatfleet.devcluster.images import build_images


@dataclass(frozen=True)
class NodeImages:
    """Image references present in the node's containerd."""

    chat: str
    operator: str
    loadtest: str


def kubectl(cluster: LocalCluster, *args: str, timeout: float = 60) -> str:
    """Runs the node's own kubectl (built from source with the cluster) and returns its stdout."""
    result = subprocess.run(
        [str(cluster.kubectl), *args],
        env=cluster.env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result.stdout


@pytest.fixture(scope="session")
def built_images() -> Any:
    return build_images()


@pytest.fixture(scope="session")
def images(built_images: Any) -> NodeImages:
    return NodeImages(
        chat=built_images.chat.ref, operator=built_images.operator.ref, loadtest=built_images.loadtest.ref
    )


# Package scope: the node is stopped when the tier ends, so `chatfleet up` (tests/integration/stack), which
# starts its own real node, finds the machine's one node free.
@pytest.fixture(scope="package")
def real_cluster(built_images: Any) -> Iterator[LocalCluster]:
    with LocalCluster(nodes=0, real_node=True, images=built_images) as local:
        yield local
