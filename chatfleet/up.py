"""The `chatfleet up` command: the local stack on a real node (default, root) or on KWOK (`--fake-nodes`)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from chatfleet.devcluster.build_steps import ImageBuildError
from chatfleet.devcluster.cluster import ClusterError
from chatfleet.devcluster.node_host import NodeError
from chatfleet.devcluster.tools import ToolBuildError
from chatfleet.paths import checkout_missing
from chatfleet.stack import LocalStack, StackError
from chatfleet.stack_node import NodeStack

NEEDS_ROOT = (
    "chatfleet up runs a real Kubernetes node (kubelet, containerd, runc, a bridge, iptables rules, cgroups) "
    "and needs root: run `sudo bash scripts/up.sh`, or add --fake-nodes for the fast mode without containers"
)


class _Terminated(Exception):
    """Raised from the SIGTERM handler so SIGTERM unwinds like Ctrl-C."""


def _raise_terminated(_signum: int, _frame: FrameType | None) -> None:
    raise _Terminated


@contextlib.contextmanager
def _signals_unwind() -> Iterator[None]:
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def up(
    fake_nodes: Annotated[
        bool,
        typer.Option(
            "--fake-nodes",
            help="Fast mode without containers: KWOK fake nodes, the chat service as a loopback process "
            "(no root needed).",
        ),
    ] = False,
    port: Annotated[
        int,
        typer.Option(
            "--port", min=1, max=65535, help="With --fake-nodes: port of the loopback chat service."
        ),
    ] = 8000,
    workdir: Annotated[
        Path, typer.Option("--workdir", help="State of this run: logs, kubeconfig, cluster data.")
    ] = Path(".chatfleet/up"),
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=10, help="Seconds to wait for the sample app and its release."),
    ] = 900.0,
    exit_when_ready: Annotated[
        bool, typer.Option("--exit-when-ready", help="Stop everything once the app is Ready (for scripts).")
    ] = False,
    monitoring: Annotated[
        bool,
        typer.Option(
            "--monitoring",
            help="Real node only: also run Prometheus and prometheus-adapter (built from source on first "
            "use), so the app's HPA scales on in-flight streams and TTFT.",
        ),
    ] = False,
) -> None:
    """Bring up the whole local stack on embedded defaults (a real node: root) and ship a gated release."""
    missing = checkout_missing("chatfleet up")
    if missing:
        typer.echo(f"error: {missing}", err=True)
        raise typer.Exit(2)
    if monitoring and fake_nodes:
        typer.echo("error: --monitoring scrapes real pods: drop --fake-nodes", err=True)
        raise typer.Exit(2)
    if not fake_nodes and os.geteuid() != 0:
        typer.echo(f"error: {NEEDS_ROOT}", err=True)
        raise typer.Exit(2)

    def progress(message: str) -> None:
        typer.echo(f"[chatfleet up] {message}", err=True)

    stack = (
        LocalStack(workdir, port, progress) if fake_nodes else NodeStack(workdir, progress, monitoring)
    )
    with _signals_unwind():
        try:
            stack.start()
            stack.wait_ready(timeout)
            prometheus = f"  prometheus:  {stack.prometheus_url}\n" if stack.prometheus_url else ""
            typer.echo(
                f"\nchatfleet is up.\n\n"
                f"  chat UI:     {stack.chat_url}/   (dev mode: pick the tenant contoso or fabrikam)\n"
                f"  API:         {stack.chat_url}/chat/stream, {stack.chat_url}/v1/chat/completions\n"
                f"  simulator:   {stack.simulator_url}/_sim/state\n"
                f"{prometheus}"
                f"  kubeconfig:  export KUBECONFIG={stack.cluster.kubeconfig}\n"
                f"  logs:        {stack.workdir / 'logs'}\n\n"
                f"$ kubectl get chatapp -n {stack.namespace}\n{stack.get_table()}\n"
            )
            if exit_when_ready:
                return
            typer.echo("Press Ctrl-C to stop every process of the stack.")
            while True:
                stack.check_alive()
                time.sleep(1.0)
        except (KeyboardInterrupt, _Terminated):
            progress("stopping")
        except (StackError, ClusterError, ToolBuildError, ImageBuildError, NodeError) as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None
        finally:
            stack.stop()
            progress("stopped; every process of the stack has exited")


def register(app: typer.Typer) -> None:
    """Adds `chatfleet up` to the root CLI."""
    app.command("up")(up)
