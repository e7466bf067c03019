"""Starts kopf with the operator's handlers (`chatfleet operator run`)."""

from __future__ import annotations

import kopf
from kubernetes import config


def current_namespace() -> str:
    """The namespace of the kubeconfig's current context, like kubectl; 'default' otherwise."""
    try:
        _, context = config.list_kube_config_contexts()
        return context.get("context", {}).get("namespace") or "default"
    except (config.ConfigException, FileNotFoundError, TypeError):
        return "default"


def run_operator(namespaces: list[str], clusterwide: bool, liveness: str | None, peering: str | None) -> None:
    """Blocks until SIGINT/SIGTERM; peering (for >1 replica) needs the KopfPeering CRDs from crds/."""
    from chatfleet.controller import main  # noqa: F401 - registers the handlers

    kopf.configure(log_format=kopf.LogFormat.PLAIN)
    kopf.run(
        clusterwide=clusterwide,
        namespaces=[] if clusterwide else (namespaces or [current_namespace()]),
        liveness_endpoint=liveness,
        peering_name=peering,
        standalone=peering is None,
    )
