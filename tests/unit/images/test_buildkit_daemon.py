"""The BuildKit daemon's settings and cleanup, without starting it (tests/images starts it for real).

Its config decides what a build may touch: runc from tools/bin, no containerd worker, build steps in a
network namespace with only loopback, containers under a cgroup parent of ours that stop() removes.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from chatfleet.devcluster.buildkit import (
    CGROUP_PARENT,
    BuildKitDaemon,
    BuildKitError,
    OCILayoutInput,
    _remove_cgroups,
)


def daemon(tmp_path: Path, cni: Path | None) -> BuildKitDaemon:
    state = tmp_path / "state"
    state.mkdir()
    bin_dir = tmp_path / "bin"
    return BuildKitDaemon(bin_dir / "buildkitd", bin_dir / "buildctl", bin_dir / "runc", state, print, cni)


def test_config_isolates_the_build(tmp_path: Path) -> None:
    built = daemon(tmp_path, tmp_path / "bin")
    config = tomllib.loads(built._config().read_text())
    assert config["root"] == str(tmp_path / "state" / "root")
    assert config["grpc"]["address"] == [f"unix://{tmp_path / 'state' / 'buildkitd.sock'}"]
    oci = config["worker"]["oci"]
    assert oci["enabled"] and oci["binary"] == str(tmp_path / "bin" / "runc")
    assert oci["defaultCgroupParent"] == CGROUP_PARENT
    assert config["worker"]["containerd"]["enabled"] is False
    assert (oci["networkMode"], oci["cniBinaryPath"], oci["cniPoolSize"]) == ("cni", str(tmp_path / "bin"), 0)
    conflist = json.loads(Path(oci["cniConfigPath"]).read_text())
    assert [plugin["type"] for plugin in conflist["plugins"]] == ["loopback"], "no route out of a build step"


def test_without_cni_plugins_steps_use_the_host_network(tmp_path: Path) -> None:
    config = tomllib.loads(daemon(tmp_path, None)._config().read_text())
    assert config["worker"]["oci"]["networkMode"] == "host"
    assert "cniConfigPath" not in config["worker"]["oci"]


def test_missing_binaries_are_named(tmp_path: Path) -> None:
    with pytest.raises(BuildKitError, match="buildkitd is missing: run `chatfleet dev tools build`"):
        daemon(tmp_path, None).start()


def test_build_needs_a_running_daemon(tmp_path: Path) -> None:
    with pytest.raises(BuildKitError, match="not running"):
        daemon(tmp_path, None).build(
            context=tmp_path,
            dockerfile=tmp_path / "Dockerfile",
            output=tmp_path / "out.tar",
            names=["x.local/a:1"],
            build_args={},
            named_contexts={},
            local_dirs={},
            layouts=[],
            log=tmp_path / "log",
        )


def test_oci_layout_context_carries_the_digest() -> None:
    layout = OCILayoutInput("base", Path("/x"), "sha256:" + "a" * 64)
    assert layout.context() == "oci-layout://base@sha256:" + "a" * 64


def test_remove_cgroups_removes_only_our_tree(tmp_path: Path) -> None:
    for hierarchy in ("memory", "pids"):
        (tmp_path / hierarchy / CGROUP_PARENT / "step1" / "inner").mkdir(parents=True)
        (tmp_path / hierarchy / "other").mkdir(parents=True)
    _remove_cgroups(CGROUP_PARENT, tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "memory",
        "memory/other",
        "pids",
        "pids/other",
    ]
