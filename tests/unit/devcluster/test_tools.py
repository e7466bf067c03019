"""Build caching: a module is built once, reused while its inputs are unchanged, rebuilt when they change."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from chatfleet.devcluster.tools import (
    ALL_MODULES,
    TOOL_NAMES,
    GoModule,
    ToolBuildError,
    build_modules,
    module_of,
)

HELLO = """package main

import "fmt"

var greeting = "hello"

func main() { fmt.Println(greeting) }
"""


def _hello_module(tmp_path: Path, name: str = "hello") -> GoModule:
    source = tmp_path / "src" / name
    source.mkdir(parents=True)
    (source / "go.mod").write_text(f"module example.com/{name}\n\ngo 1.26\n")
    (source / "main.go").write_text(HELLO)
    return GoModule(
        directory=name,
        packages=(".",),
        binaries=(name,),
        ldflags="-s -w -X main.greeting=stamped",
        root=tmp_path / "src",
        bin_dir=tmp_path / "bin",
    )


def test_module_is_built_once_then_reused_then_rebuilt_on_change(tmp_path: Path) -> None:
    module = _hello_module(tmp_path)
    messages: list[str] = []

    build_modules([module], progress=messages.append)
    binary = tmp_path / "bin" / "hello"
    assert subprocess.run([binary], capture_output=True, text=True, check=True).stdout == "stamped\n"
    assert module.is_current()
    built = [m for m in messages if m.startswith("built")]
    assert len(built) == 1

    build_modules([module], progress=messages.append)
    assert len([m for m in messages if m.startswith("built")]) == 1  # cached: no second build

    (module.path / "main.go").write_text(
        HELLO.replace("fmt.Println(greeting)", 'fmt.Println(greeting + "!")')
    )
    assert not module.is_current()
    build_modules([module], progress=messages.append)
    assert subprocess.run([binary], capture_output=True, text=True, check=True).stdout == "stamped!\n"


def test_failed_build_reports_the_compiler_error_and_keeps_no_binary(tmp_path: Path) -> None:
    module = _hello_module(tmp_path)
    (module.path / "main.go").write_text("package main\n\nfunc main() { undefinedThing() }\n")
    with pytest.raises(ToolBuildError, match="undefinedThing"):
        build_modules([module], progress=lambda _m: None)
    assert not (tmp_path / "bin" / "hello").exists()
    assert not module.is_current()


def test_modules_build_concurrently_and_one_failure_does_not_hide_the_others(tmp_path: Path) -> None:
    good, bad = _hello_module(tmp_path, "good"), _hello_module(tmp_path, "bad")
    (bad.path / "main.go").write_text("package main\n\nfunc main() { brokenCall() }\n")
    with pytest.raises(ToolBuildError, match="brokenCall"):
        build_modules([bad, good], progress=lambda _m: None)
    assert good.is_current()
    assert (tmp_path / "bin" / "good").is_file()
    assert not bad.is_current()


def test_every_tool_maps_to_a_committed_module_with_pinned_dependencies() -> None:
    assert set(TOOL_NAMES) == {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
        "helm",
        # the real node
        "kubelet",
        "kube-proxy",
        "kubectl",
        "runc",
        "containerd",
        "containerd-shim-runc-v2",
        "ctr",
        "bridge",
        "host-local",
        "loopback",
        "portmap",
        "coredns",
        "buildkitd",
        "buildctl",
        "kube-router",
        # monitoring
        "prometheus",
        "promtool",
        "prometheus-adapter",
        # pipelines
        "actionlint",
    }
    for module in ALL_MODULES:
        assert (module.path / "go.mod").is_file()
        assert (module.path / "go.sum").is_file()
    assert module_of("kube-scheduler").directory == "kube"
    # Two builds share tools/kube; their stamps must not overwrite each other.
    assert module_of("kubelet").stamp != module_of("kube-scheduler").stamp


def test_unknown_tool_is_a_clear_error() -> None:
    with pytest.raises(ToolBuildError, match=r"unknown tool 'kubeadm'.*helm"):
        module_of("kubeadm")
