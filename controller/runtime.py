"""Starts kopf with the operator's handlers (`chatfleet operator run`)."""

from __future__ import annotations

import os
import socket
import zlib

import kopf


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


def run_operator(namespaces: list[str], liveness: str | None, peering: str | None) -> None:
    """Watches `namespaces`, or every namespace when none are given; blocks until SIGINT/SIGTERM.

    Peering (for more than one replica) needs the KopfPeering CRDs from crds/.
    """
    from chatfleet.controller import main  # noqa: F401 - registers the handlers

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
