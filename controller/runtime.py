"""Starts kopf with the operator's handlers (`chatfleet operator run`)."""

from __future__ import annotations

import os
import socket
import time
import zlib

import kopf
import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from chatfleet.controller import metrics
from chatfleet.controller.kube import load_api_client

PROBE_TIMEOUT_S = 5.0


class StartupError(RuntimeError):
    """The operator cannot start; the message names the setting or input at fault."""


class ClusterUnreachable(StartupError):
    """No cluster is configured, or its API server did not answer within the wait."""


def wait_for_api_server(wait_s: float) -> str:
    """The API server's URL once it answers `/version`; raises ClusterUnreachable after `wait_s`.

    kopf itself retries a missing or dead cluster forever, logging a traceback a minute; an operator that
    cannot reach its cluster at start-up should say so and exit, and let its supervisor restart it.
    """
    try:
        api = load_api_client(pool_size=1)
    except config.ConfigException as error:
        raise ClusterUnreachable(
            f"no cluster configured (KUBECONFIG, ~/.kube/config or an in-cluster service account): {error}"
        ) from None
    server = api.configuration.host
    deadline = time.monotonic() + wait_s
    with api:
        while True:
            try:
                client.VersionApi(api).get_code(_request_timeout=PROBE_TIMEOUT_S)
                return str(server)
            except (urllib3.exceptions.HTTPError, ApiException, OSError) as error:  # not up (yet)
                if time.monotonic() >= deadline:
                    reason = str(error).splitlines()[0][:200]
                    raise ClusterUnreachable(
                        f"API server {server} did not answer within {wait_s:.0f}s: {reason}"
                    ) from None
            time.sleep(1.0)


def peering_identity() -> str:
    """kopf's own identity rule: POD_ID (the chart sets it to the pod name), else host@pid."""
    return os.environ.get("POD_ID") or f"{socket.gethostname()}@{os.getpid()}"


def peering_priority(identity: str) -> int:
    """A distinct priority per replica, stable for its identity.

    kopf pauses every operator that sees a peer of the same priority, so replicas sharing the default
    priority all pause and none reconciles; with distinct priorities the highest one is active and the
    others stand by until its peering record expires.
    """
    return zlib.crc32(identity.encode()) % 1_000_000 + 1


def run_operator(
    namespaces: list[str], liveness: str | None, peering: str | None, metrics_port: int = 0
) -> None:
    """Watches `namespaces`, or every namespace when none are given; blocks until SIGINT/SIGTERM.

    Peering (for more than one replica) needs the KopfPeering CRDs from crds/.
    """
    from chatfleet.controller import main  # noqa: F401 - registers the handlers

    if metrics_port:
        try:
            metrics.serve(metrics_port)
        except OSError as error:
            raise StartupError(f"--metrics-port {metrics_port}: cannot listen: {error.strerror}") from None
    kopf.configure(log_format=kopf.LogFormat.PLAIN)
    identity = peering_identity()
    kopf.run(
        identity=identity,  # type: ignore[arg-type]  # kopf's Identity: a NewType of str it does not export
        priority=peering_priority(identity),
        clusterwide=not namespaces,
        namespaces=namespaces,
        liveness_endpoint=liveness,
        peering_name=peering,
        standalone=peering is None,
    )
