"""KWOK's part of the dev cluster: the fake nodes it plays the kubelet of, and how it is started.

A fake node carries the annotation `kwok.x-k8s.io/node: fake`; KWOK manages only those (a real node, when
one runs, is left to its kubelet) and moves the pods scheduled on them to Running/Ready.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chatfleet.devcluster import tools

FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"


def fake_node(index: int) -> dict[str, Any]:
    """Node `kwok-node-<index>`: roomy, amd64/linux, spread over three zones."""
    name = f"kwok-node-{index}"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {FAKE_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "topology.kubernetes.io/zone": f"zone-{index % 3}",
            },
        },
        "spec": {},
        "status": {
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
        },
    }


def kwok_command(binary: Path, kubeconfig: Path) -> list[str]:
    """KWOK acting for the fake nodes only; it plays their kubelet, so it runs with the admin identity."""
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={FAKE_NODE_ANNOTATION}=fake",
        f"--config={tools.KWOK_STAGES}",
        "--server-address=",
    ]
