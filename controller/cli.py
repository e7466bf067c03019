"""`chatfleet render`, `chatfleet crd generate` and `chatfleet operator run`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

crd_app = typer.Typer(help="The ChatApplication CustomResourceDefinition.", no_args_is_help=True)
operator_app = typer.Typer(help="The ChatApplication operator (kopf).", no_args_is_help=True)


def render_command(
    file: Annotated[str, typer.Option("--file", "-f", help="ChatApplication YAML file ('-' for stdin).")],
    dev_mode: Annotated[
        bool,
        typer.Option(
            "--dev-mode",
            help="As an operator with CHATFLEET_OPERATOR_DEV_MODE renders (the local stack's): chat pods "
            "without sign-in and with the simulator's placeholder key.",
        ),
    ] = False,
) -> None:
    """Print the Kubernetes objects a ChatApplication turns into, as a YAML stream (no cluster needed)."""
    import sys

    from chatfleet.controller.loading import InvalidResource, load_applications, render_stream

    if file != "-" and not Path(file).is_file():
        typer.echo(f"error: --file {file}: no such file", err=True)
        raise typer.Exit(2)
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        typer.echo(f"error: --file {file}: {reason}", err=True)
        raise typer.Exit(2) from None
    try:
        apps = load_applications(text)
    except InvalidResource as problem:
        typer.echo(f"error: {file}: invalid ChatApplication", err=True)
        for line in problem.errors:
            typer.echo(f"  {line}", err=True)
        raise typer.Exit(1) from None
    typer.echo(render_stream(apps, dev_mode=dev_mode), nl=False)


@crd_app.command("generate")
def crd_generate(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the CRD to this file.")] = None,
    write: Annotated[
        bool, typer.Option("--write", help="Overwrite crds/chatapplications.chatfleet.dev.yaml.")
    ] = False,
) -> None:
    """Generate the CRD from the pydantic spec model (the one source of truth)."""
    from chatfleet.controller.crd import CRD_PATH, crd_yaml
    from chatfleet.paths import checkout_missing

    if write and (missing := checkout_missing("chatfleet crd generate --write")):
        typer.echo(f"error: {missing}; use --output FILE or stdout", err=True)
        raise typer.Exit(2)
    text = crd_yaml()
    target = CRD_PATH if write else output
    if target is None:
        typer.echo(text, nl=False)
        return
    try:
        target.write_text(text)
    except OSError as error:
        flag = "--write" if write else "--output"
        typer.echo(f"error: {flag} {target}: {error.strerror}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {target}", err=True)


@operator_app.command("run")
def operator_run(
    namespace: Annotated[
        list[str] | None,
        typer.Option("--namespace", "-n", help="Namespace to watch (repeatable, globs such as team-*)."),
    ] = None,
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="Watch every namespace (the default without -n).")
    ] = False,
    liveness: Annotated[
        str | None, typer.Option("--liveness", help="Liveness endpoint, e.g. http://0.0.0.0:8080/healthz.")
    ] = None,
    peering: Annotated[
        str | None, typer.Option("--peering", help="Peering name; needed for more than one replica.")
    ] = None,
    wait_for_cluster: Annotated[
        float,
        typer.Option(
            "--wait-for-cluster",
            min=0,
            help="Seconds to wait for the API server to answer before giving up with exit 1.",
        ),
    ] = 60.0,
    metrics_port: Annotated[
        int,
        typer.Option(
            "--metrics-port",
            envvar="CHATFLEET_OPERATOR_METRICS_PORT",
            min=0,
            max=65535,
            help="Port of the operator's Prometheus /metrics endpoint (0: off; the chart uses 9090).",
        ),
    ] = 0,
) -> None:
    """Run the operator against the cluster of KUBECONFIG (or the in-cluster service account).

    Without -n it watches every namespace, as kopf does, and says so: a scope picked silently (it used to
    be one namespace) looks like an operator that ignores resources.
    """
    if all_namespaces and namespace:
        typer.echo("error: --namespace and --all-namespaces exclude each other", err=True)
        raise typer.Exit(2)
    if liveness is not None:
        url = urlsplit(liveness)
        if url.scheme != "http" or not url.hostname or url.port is None:
            raise typer.BadParameter(
                f"'{liveness}' is not an http://HOST:PORT/PATH URL", param_hint="--liveness"
            )
    from chatfleet.controller.runtime import StartupError, run_operator, wait_for_api_server

    try:
        server = wait_for_api_server(wait_for_cluster)
        scope = f"namespaces {', '.join(namespace)}" if namespace else "all namespaces"
        typer.echo(f"chatfleet operator: API server {server}, watching {scope}", err=True)
        run_operator(
            namespaces=namespace or [], liveness=liveness, peering=peering, metrics_port=metrics_port
        )
    except StartupError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


def register(app: typer.Typer) -> None:
    """Adds this part's commands to the root CLI."""
    app.command("render")(render_command)
    app.add_typer(crd_app, name="crd")
    app.add_typer(operator_app, name="operator")
