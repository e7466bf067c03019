"""Self-contained kubeconfig files (certificates embedded) for the local cluster's users."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml

from chatfleet.devcluster.pki import KeyPair

CLUSTER_NAME = "chatfleet-dev"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def build_kubeconfig(server: str, ca_pem: bytes, user: str, client: KeyPair) -> dict[str, Any]:
    """A kubeconfig with one cluster, one user and one current context, all data inline.

    Inline data (not file paths) keeps the file valid when copied elsewhere with `--kubeconfig PATH`.
    """
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": CLUSTER_NAME, "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)}}
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(client.cert_pem),
                    "client-key-data": _b64(client.key_pem),
                },
            }
        ],
        "contexts": [{"name": CLUSTER_NAME, "context": {"cluster": CLUSTER_NAME, "user": user}}],
        "current-context": CLUSTER_NAME,
        "preferences": {},
    }


def is_local_kubeconfig(path: Path) -> bool:
    """True for a kubeconfig this module wrote (safe to replace); anything else is someone's real config."""
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return False
    if not isinstance(config, dict):
        return False
    clusters = config.get("clusters") or []
    return config.get("current-context") == CLUSTER_NAME and [c.get("name") for c in clusters] == [
        CLUSTER_NAME
    ]


def write_kubeconfig(path: Path, config: dict[str, Any]) -> Path:
    """Writes atomically with mode 0600: readers never see half a file, and the key is not world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    scratch.touch(mode=0o600)
    scratch.write_text(yaml.safe_dump(config, sort_keys=False))
    os.replace(scratch, path)
    return path
