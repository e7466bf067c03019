"""Shared fixture of every integration test: one real control plane per test session.

Usage in any test under tests/integration/ (every test there is marked `integration` automatically):

    def test_something(cluster):
        api = kubernetes.client.CoreV1Api(cluster.api_client())
        subprocess.run([...], env=cluster.env())          # KUBECONFIG for subprocesses (operator, helm)

`cluster` is a started `chatfleet.devcluster.cluster.LocalCluster` with kube-scheduler, KWOK and one
fake node (`kwok-node-0`), so Deployments really become available. Interface (kept stable):

- `cluster.kubeconfig: Path`    admin kubeconfig (user in group system:masters, certs inline)
- `cluster.server: str`         API server URL, https://127.0.0.1:<free port>
- `cluster.api_client()`        a new `kubernetes.client.ApiClient` for the admin
- `cluster.env()`               os.environ plus KUBECONFIG=<admin kubeconfig>
- `cluster.workdir: Path`       certs, etcd data and `logs/<component>.log` of this session

The cluster is shared by the whole session: create your own namespace per test and delete it afterwards.
Missing binaries are built before the first test runs (outside any per-test timeout); run
`chatfleet dev tools build` beforehand to keep that out of the test run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chatfleet.devcluster import tools
from chatfleet.devcluster.cluster import LocalCluster

INTEGRATION_DIR = Path(__file__).parent
NODE_DIR = INTEGRATION_DIR / "node"
STACK_DIR = INTEGRATION_DIR / "stack"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks every test under tests/integration as `integration` so `-m "not integration"` skips them."""
    for item in items:
        if INTEGRATION_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)
    # `chatfleet up` starts (and stops) its own real node; the node tier's cluster fixture lives until the
    # session ends (its folder is no Python package, so "package" scope is the session's), and the machine
    # holds one real node: the stack's tests go first.
    items.sort(key=lambda item: STACK_DIR not in Path(str(item.path)).parents)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Builds the control plane once before any integration test runs (outside per-test timeouts)."""
    if session.config.option.collectonly:
        return
    if any(INTEGRATION_DIR in Path(str(item.path)).parents for item in session.items):
        tools.ensure_built(tools.CONTROL_PLANE)
    if any(NODE_DIR in Path(str(item.path)).parents for item in session.items):
        from chatfleet.devcluster.images import build_images

        tools.ensure_built(tools.NODE)
        build_images()  # cached by input hash; a cold build takes minutes, outside any test's timeout


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    """A started LocalCluster (etcd, kube-apiserver, controller manager, scheduler, KWOK, one fake node)."""
    with LocalCluster(nodes=1) as local:
        yield local
