"""`chatfleet dev ...`: the local control plane and the from-source tools, for people and for scripts."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from chatfleet.paths import checkout_missing

dev_app = typer.Typer(help="Local development stack: a real control plane on loopback.", no_args_is_help=True)
tools_app = typer.Typer(help="Go tools built from source and cached in tools/bin.", no_args_is_help=True)
dev_app.add_typer(tools_app, name="tools")
images_app = typer.Typer(help="Container images for the local node, built offline.", no_args_is_help=True)
dev_app.add_typer(images_app, name="images")


def register(app: typer.Typer) -> None:
    """Adds `chatfleet dev` to the root CLI."""
    app.add_typer(dev_app, name="dev")


@dev_app.callback()
def _needs_checkout(ctx: typer.Context) -> None:
    """Every `chatfleet dev` command builds or runs what the repository holds (tools/, images/)."""
    missing = checkout_missing(f"chatfleet dev {ctx.invoked_subcommand}")
    if missing:
        typer.echo(f"error: {missing}", err=True)
        raise typer.Exit(2)


def _echo_err(message: str) -> None:
    typer.echo(message, err=True)


class _Terminated(Exception):
    """Raised from the SIGTERM handler so SIGTERM unwinds like Ctrl-C and the cluster is stopped."""


def _raise_terminated(_signum: int, _frame: FrameType | None) -> None:
    raise _Terminated


@dev_app.command("cluster")
def cluster(
    kubeconfig: Annotated[
        Path, typer.Option("--kubeconfig", help="Where to write the admin kubeconfig.")
    ] = Path(".chatfleet/dev.kubeconfig"),
    nodes: Annotated[
        int, typer.Option("--nodes", min=0, max=100, help="KWOK fake nodes (0: no scheduler/kwok).")
    ] = 1,
    workdir: Annotated[
        Path | None,
        typer.Option("--workdir", help="State folder (etcd data, certs, logs); a temporary one by default."),
    ] = None,
    real_node: Annotated[
        bool,
        typer.Option(
            "--real-node",
            help="Run a real node (kubelet, containerd, runc, kube-proxy, CoreDNS) with the chatfleet images "
            "instead of KWOK fake nodes; needs root.",
        ),
    ] = False,
) -> None:
    """Start etcd, kube-apiserver, kube-controller-manager (+ kube-scheduler and KWOK, or a real node)."""
    from chatfleet.devcluster.cluster import ClusterError, LocalCluster
    from chatfleet.devcluster.images import ImageBuildError, build_images
    from chatfleet.devcluster.node import NodeError
    from chatfleet.devcluster.tools import ToolBuildError

    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        images = build_images(progress=_echo_err) if real_node else None
        local = LocalCluster(
            nodes=0 if real_node else nodes,
            workdir=workdir,
            kubeconfig=kubeconfig,
            progress=_echo_err,
            real_node=real_node,
            images=images,
        )
        with local:
            if images is not None:
                typer.echo("images in the node's containerd: " + ", ".join(i.ref for i in images))
            typer.echo(
                f"cluster ready in {local.startup_seconds:.1f} s at {local.server}\n"
                f"  admin kubeconfig: {local.kubeconfig}\n"
                f"  use it:  export KUBECONFIG={local.kubeconfig}\n"
                f"           kubectl get nodes   /   chatfleet operator run\n"
                f"  logs:    {local.workdir / 'logs'}\n"
                "Press Ctrl-C to stop every component."
            )
            while True:
                local.check_alive()
                time.sleep(1.0)
    except (KeyboardInterrupt, _Terminated):
        _echo_err("stopped; every component has exited")
    except (ClusterError, ToolBuildError, ImageBuildError, NodeError) as error:
        _echo_err(f"error: {error}")
        raise typer.Exit(1) from None
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@tools_app.command("build")
def build(
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only", help="Build just this tool (repeatable): etcd, kube-apiserver, kwok, helm, ..."
        ),
    ] = None,
    node: Annotated[
        bool,
        typer.Option(
            "--node",
            help="Also the real node's tools (kubelet, containerd, runc, CNI, CoreDNS, BuildKit); runc needs "
            "Debian's libseccomp-dev and pkg-config.",
        ),
    ] = False,
    monitoring: Annotated[
        bool,
        typer.Option(
            "--monitoring", help="Also Prometheus, promtool and prometheus-adapter (dashboards, alerts, HPA)."
        ),
    ] = False,
    pipelines: Annotated[
        bool,
        typer.Option("--pipelines", help="Also actionlint (the example CI/CD workflow's test)."),
    ] = False,
) -> None:
    """Build the control plane, KWOK and helm (and node, monitoring, actionlint) from source if stale."""
    from chatfleet.devcluster.tools import MODULES, MONITORING, NODE, PIPELINES, ToolBuildError, ensure_built

    started = time.monotonic()
    wanted = only or [
        *(n for m in MODULES for n in m.binaries),
        *(NODE if node else ()),
        *(MONITORING if monitoring else ()),
        *(PIPELINES if pipelines else ()),
    ]
    try:
        paths = ensure_built(wanted, progress=_echo_err)
    except ToolBuildError as error:
        _echo_err(f"error: {error}")
        raise typer.Exit(1) from None
    for name, path in paths.items():
        typer.echo(f"{name}\t{path}")
    _echo_err(f"tools ready in {time.monotonic() - started:.1f} s")


@tools_app.command("path")
def path(name: Annotated[str, typer.Argument(help="Tool name, e.g. helm or kube-apiserver.")]) -> None:
    """Print one tool's path, building it first if needed (scripts: `$(chatfleet dev tools path helm)`)."""
    from chatfleet.devcluster.tools import ToolBuildError, ensure_built

    try:
        typer.echo(ensure_built([name], progress=_echo_err)[name])
    except ToolBuildError as error:
        _echo_err(f"error: {error}")
        raise typer.Exit(1) from None


@images_app.command("build")
def images_build(
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Build just this app image (repeatable): chat, operator, loadtest."),
    ] = None,
) -> None:
    """Build the chat, operator, loadtest and pause images offline; print `ref<TAB>OCI tar` per ref.

    Cached under ~/.cache/chatfleet/images: an unchanged tree builds nothing.
    """
    from chatfleet.devcluster.images import IMAGE_NAMES, ImageBuildError, build_images

    try:
        images = build_images(progress=_echo_err, names=only or IMAGE_NAMES)
    except ImageBuildError as error:
        _echo_err(f"error: {error}")
        raise typer.Exit(1) from None
    for image in images:
        for ref in image.refs:
            typer.echo(f"{ref}\t{image.tar}")
