"""The admin kubeconfig must load in the kubernetes client exactly as kubectl would read it."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml
from kubernetes import client, config

from chatfleet.devcluster.kubeconfig import (
    CLUSTER_NAME,
    build_kubeconfig,
    is_local_kubeconfig,
    write_kubeconfig,
)
from chatfleet.devcluster.pki import CertificateAuthority


def test_kubeconfig_is_self_contained_and_loads_in_the_kubernetes_client(tmp_path: Path) -> None:
    ca = CertificateAuthority()
    admin = ca.issue_client("chatfleet-admin", ("system:masters",))
    path = write_kubeconfig(
        tmp_path / "sub" / "admin.kubeconfig",
        build_kubeconfig("https://127.0.0.1:6443", ca.cert_pem, "chatfleet-admin", admin),
    )

    assert path.stat().st_mode & 0o077 == 0
    data = yaml.safe_load(path.read_text())
    assert data["current-context"] == CLUSTER_NAME
    user = data["users"][0]["user"]
    assert base64.b64decode(user["client-certificate-data"]) == admin.cert_pem
    assert base64.b64decode(data["clusters"][0]["cluster"]["certificate-authority-data"]) == ca.cert_pem

    configuration = client.Configuration()
    config.load_kube_config(config_file=str(path), client_configuration=configuration)
    assert configuration.host == "https://127.0.0.1:6443"
    assert Path(configuration.cert_file).read_bytes() == admin.cert_pem
    assert Path(configuration.ssl_ca_cert).read_bytes() == ca.cert_pem


def test_rewrite_replaces_atomically(tmp_path: Path) -> None:
    ca = CertificateAuthority()
    path = tmp_path / "k.kubeconfig"
    for server in ("https://127.0.0.1:1", "https://127.0.0.1:2"):
        write_kubeconfig(path, build_kubeconfig(server, ca.cert_pem, "u", ca.issue_client("u")))
    assert yaml.safe_load(path.read_text())["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:2"
    assert [p.name for p in tmp_path.iterdir()] == ["k.kubeconfig"]


def test_only_our_own_kubeconfigs_count_as_replaceable(tmp_path: Path) -> None:
    ca = CertificateAuthority()
    ours = write_kubeconfig(
        tmp_path / "ours", build_kubeconfig("https://127.0.0.1:1", ca.cert_pem, "u", ca.issue_client("u"))
    )
    theirs = tmp_path / "config"
    theirs.write_text(
        yaml.safe_dump(
            {"clusters": [{"name": "prod"}], "current-context": "prod", "users": [], "contexts": []}
        )
    )
    (tmp_path / "garbage").write_text(": not yaml : [")
    assert is_local_kubeconfig(ours)
    assert not is_local_kubeconfig(theirs)
    assert not is_local_kubeconfig(tmp_path / "garbage")
    assert not is_local_kubeconfig(tmp_path / "missing")
