"""The local control plane is real: API reachable, pods run on KWOK nodes, GC works, no orphans."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from chatfleet.devcluster.cluster import ClusterError, LocalCluster
from tests.helpers.waiting import eventually


@pytest.fixture
def namespace(cluster: LocalCluster) -> Iterator[str]:
    name = f"devcluster-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(cluster.api_client())
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)


def test_api_is_reachable_with_the_admin_kubeconfig(cluster: LocalCluster) -> None:
    api = cluster.api_client()
    version = client.VersionApi(api).get_code()
    assert version.git_version == "v1.35.4"
    review = client.AuthorizationV1Api(api).create_self_subject_access_review(
        client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(verb="*", resource="*", group="*")
            )
        )
    )
    assert review.status.allowed
    assert cluster.kubeconfig.stat().st_mode & 0o077 == 0


def test_anonymous_requests_are_not_authorized(cluster: LocalCluster) -> None:
    import ssl

    import httpx

    trust = ssl.create_default_context(cafile=str(cluster.workdir / "pki" / "ca.crt"))
    response = httpx.get(f"{cluster.server}/api/v1/namespaces", verify=trust, timeout=5)
    assert response.status_code in (401, 403)


def test_deployment_becomes_available_on_a_kwok_node(cluster: LocalCluster, namespace: str) -> None:
    apps = client.AppsV1Api(cluster.api_client())
    labels = {"app": "web"}
    apps.create_namespaced_deployment(
        namespace,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1DeploymentSpec(
                replicas=2,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="nginx:1.27")]),
                ),
            ),
        ),
    )

    def available() -> bool:
        status = apps.read_namespaced_deployment_status("web", namespace).status
        return status.available_replicas == 2

    eventually(available, 60, what="Deployment web to have 2 available replicas")
    pods = client.CoreV1Api(cluster.api_client()).list_namespaced_pod(namespace, label_selector="app=web")
    assert {pod.spec.node_name for pod in pods.items} == {"kwok-node-0"}
    assert all(pod.status.phase == "Running" for pod in pods.items)


def test_garbage_collector_deletes_owned_objects(cluster: LocalCluster, namespace: str) -> None:
    core = client.CoreV1Api(cluster.api_client())
    owner = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner"), data={"a": "1"})
    )
    reference = client.V1OwnerReference(
        api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid, block_owner_deletion=True
    )
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="owned", owner_references=[reference]), string_data={"k": "v"}
        ),
    )
    core.delete_namespaced_config_map("owner", namespace)

    def owned_gone() -> bool:
        try:
            core.read_namespaced_secret("owned", namespace)
        except ApiException as error:
            return error.status == 404
        return False

    eventually(owned_gone, 60, what="the garbage collector to delete the owned Secret")


def test_stop_leaves_no_process_behind(tmp_path: Path) -> None:
    """A second, private cluster (no nodes, fast): after stop every component process is gone."""
    local = LocalCluster(nodes=0, workdir=tmp_path / "state")
    with local:
        pids = local.pids()
        assert len(pids) == 3
        assert all(psutil.pid_exists(pid) for pid in pids)
        children = [p.pid for p in psutil.Process().children(recursive=True) if p.pid in pids]
        assert sorted(children) == sorted(pids)
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not local.kubeconfig.exists()  # it would point at a cluster that is gone


def test_foreign_kubeconfig_and_workdir_are_never_overwritten(tmp_path: Path) -> None:
    precious = tmp_path / "config"
    precious.write_text("apiVersion: v1\nkind: Config\ncurrent-context: prod\nclusters: [{name: prod}]\n")
    with pytest.raises(ClusterError, match="not a chatfleet dev kubeconfig"):
        LocalCluster(nodes=0, kubeconfig=precious).start()
    assert precious.read_text().startswith("apiVersion: v1")

    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(ClusterError, match="not empty"):
        LocalCluster(nodes=0, workdir=folder).start()
    assert (folder / "notes.txt").read_text() == "mine"


def test_job_pods_complete_and_the_job_succeeds(cluster: LocalCluster, namespace: str) -> None:
    batch = client.BatchV1Api(cluster.api_client())
    batch.create_namespaced_job(
        namespace,
        client.V1Job(
            metadata=client.V1ObjectMeta(name="once"),
            spec=client.V1JobSpec(
                backoff_limit=0,
                template=client.V1PodTemplateSpec(
                    spec=client.V1PodSpec(
                        restart_policy="Never",
                        containers=[client.V1Container(name="task", image="busybox:1.36")],
                    )
                ),
            ),
        ),
    )

    def succeeded() -> bool:
        return (batch.read_namespaced_job_status("once", namespace).status.succeeded or 0) == 1

    eventually(succeeded, 60, what="Job once to succeed (KWOK completes its pod)")
