"""`chatfleet serve`: the chat service; plus the simulator's and ingestion's commands of this part.

With nothing configured, `serve` is a complete local demo: dev mode (no sign-in, tenant picked in the UI),
a local index built from the two-tenant sample corpus in examples/corpus, and its own simulator as the
model. Dev mode is never implied on a non-loopback address: exposing an unauthenticated service needs an
explicit `--dev`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from chatfleet.chat.embeddings.factory import EmbedderName
from chatfleet.chat.ingest import cli as ingest_cli
from chatfleet.chat.simulator import cli as simulator_cli
from chatfleet.contracts.endpoints import is_loopback_host


def register(app: typer.Typer) -> None:
    """Adds this part's commands to the root CLI."""
    app.command("serve")(serve)
    app.command("ingest-sample")(ingest_sample)
    simulator_cli.register(app)
    ingest_cli.register(app)


def ingest_sample(
    index: Annotated[
        Path,
        typer.Option("--index", envvar="CHATFLEET_INDEX_PATH", help="Local index file to build."),
    ],
    embedder: Annotated[
        EmbedderName, typer.Option("--embedder", envvar="CHATFLEET_EMBEDDER", help="Embedding model.")
    ] = EmbedderName.WORDLLAMA,
) -> None:
    """Build a local index of the packaged two-tenant sample corpus (contoso, fabrikam).

    What the operator's init container runs for an app that declares neither search nor documents, so a
    minimal app answers out of the box."""
    import asyncio

    import apsw

    from chatfleet.chat.sample_index import CORPUS_DIR, build_sample_index

    try:
        path = asyncio.run(build_sample_index(index, embedder.value))
    except (OSError, apsw.Error) as error:
        typer.echo(f"error: --index {index}: cannot write the index: {error}", err=True)
        raise typer.Exit(1) from None
    tenants = sorted(p.name for p in CORPUS_DIR.iterdir() if p.is_dir())
    typer.echo(f"sample corpus ({', '.join(tenants)}) indexed into {path}")


def _auth_configured() -> bool:
    return any(os.environ.get(name) for name in ("CHATFLEET_AUTH_MODE", "CHATFLEET_AUTH_ISSUER"))


def serve(
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free port).")
    ] = 8000,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (0.0.0.0 in a container).")
    ] = "127.0.0.1",
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=0,
            max=65535,
            help="Port of /metrics (default: CHATFLEET_METRICS_PORT, else 9464; any free port with --port 0 "
            "or in dev mode).",
        ),
    ] = None,
    index: Annotated[
        Path | None, typer.Option("--index", help="Local index file (default: CHATFLEET_INDEX_PATH).")
    ] = None,
    dev: Annotated[
        bool | None,
        typer.Option(
            "--dev/--no-dev",
            help="Dev mode (auth off, tenant from X-Chatfleet-Tenant). Default: on loopback without auth.",
        ),
    ] = None,
    simulator_ttft_ms: Annotated[
        float,
        typer.Option(
            "--simulator-ttft-ms", min=0, help="TTFT of the built-in simulator (no deployments set)."
        ),
    ] = 150.0,
    simulator_tokens_per_second: Annotated[
        float,
        typer.Option("--simulator-tokens-per-second", min=0.001, help="Pace of the built-in simulator."),
    ] = 60.0,
) -> None:
    """Run the chat service (API + UI). With nothing configured: local index, sample corpus, own simulator."""
    import logging

    import uvloop
    from pydantic import ValidationError

    dev_mode = dev if dev is not None else (is_loopback_host(host) and not _auth_configured())
    overrides: dict[str, Any] = {}  # Settings validates each value
    if dev_mode:
        overrides["dev_mode"] = True
        if not _auth_configured():
            overrides["auth_mode"] = "none"
    if index is not None:
        overrides["index_path"] = index
    if metrics_port is not None:
        overrides["metrics_port"] = metrics_port
    elif "CHATFLEET_METRICS_PORT" not in os.environ and (port == 0 or dev_mode):
        overrides["metrics_port"] = 0  # several local services side by side must not collide on 9464
    try:
        from chatfleet.chat.config import Settings

        settings = Settings(**overrides)
    except ValidationError as error:
        for problem in error.errors():
            where = ".".join(str(p) for p in problem["loc"])
            typer.echo(f"error: invalid setting {where or '(settings)'}: {problem['msg']}", err=True)
        raise typer.Exit(2) from None
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpx2", "httpcore"):  # one INFO line per upstream call: too chatty
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(settings.log_level)))
    try:
        uvloop.run(_serve(settings, host, port, simulator_ttft_ms, simulator_tokens_per_second))
    except LocalSetupError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None


class LocalSetupError(Exception):
    """The local defaults cannot be provided (message says which setting to set instead)."""


async def _serve(settings: object, host: str, port: int, ttft_ms: float, tokens_per_second: float) -> None:
    from pydantic import SecretStr

    from chatfleet.chat.app import create_app
    from chatfleet.chat.config import Settings
    from chatfleet.chat.llm import DeploymentConfig
    from chatfleet.chat.serving import bind, make_server
    from chatfleet.chat.telemetry.exposition import MetricsListener

    assert isinstance(settings, Settings)
    simulator = None
    updates: dict[str, object] = {}
    if not settings.openai_deployments:
        if not settings.dev_mode:
            raise LocalSetupError(
                "CHATFLEET_OPENAI_DEPLOYMENTS is empty (a built-in simulator is only used in dev mode)"
            )
        from chatfleet.chat.simulator import background
        from chatfleet.chat.simulator.config import SimulatorConfig

        simulator = await background.start(
            SimulatorConfig(ttft_ms=ttft_ms, tokens_per_second=tokens_per_second)
        )
        updates["openai_deployments"] = [
            DeploymentConfig(
                name="simulator",
                endpoint=simulator.base_url,
                deployment="gpt-4o-mini",
                api_key=SecretStr("local-simulator"),
            )
        ]
        print(f"built-in simulator at {simulator.base_url}", flush=True)
    if settings.search_backend == "local" and settings.index_path is None:
        if not settings.dev_mode:
            raise LocalSetupError(
                "CHATFLEET_INDEX_PATH is not set (the sample index is only used in dev mode)"
            )
        updates["index_path"] = await _sample_index(settings.embedder)
    elif settings.search_backend == "local" and not _is_file(settings.index_path):
        raise LocalSetupError(
            f"index file {settings.index_path} does not exist; build it with `chatfleet ingest`"
        )
    if updates:
        settings = settings.model_copy(update=updates)
    try:
        sock = bind(host, port)
    except OSError as error:
        raise LocalSetupError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    bound_host, bound_port = sock.getsockname()[:2]
    if settings.metrics_port == bound_port:
        sock.close()
        raise LocalSetupError(f"CHATFLEET_METRICS_PORT must differ from the service port {bound_port}")
    app = create_app(settings)
    try:
        metrics = MetricsListener(
            host,
            settings.metrics_port,
            lambda: app.state.runtime.metrics.registry if app.state.runtime is not None else None,
        )
    except OSError as error:
        sock.close()
        raise LocalSetupError(
            f"cannot listen on {host}:{settings.metrics_port} (CHATFLEET_METRICS_PORT): {error.strerror}"
        ) from None
    server = make_server(
        app,
        shutdown_grace_s=settings.shutdown_grace_s,
        drain_delay_s=settings.drain_delay_s,
        log_level=settings.log_level,
    )
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host

    # Printed only once requests are accepted: scripts and tests wait for this line.
    server.on_started = lambda: print(
        f"metrics on http://{shown}:{metrics.port}/metrics\n"
        f"chatfleet chat service listening on http://{shown}:{bound_port}",
        flush=True,
    )
    try:
        await server.serve(sockets=[sock])
    finally:
        metrics.close()
        if simulator is not None:
            await simulator.aclose()


def _is_file(path: Path | None) -> bool:
    return path is not None and path.is_file()


async def _sample_index(embedder: str) -> Path:
    """The two-tenant sample corpus (examples/corpus), ingested once per corpus version into the cache."""
    from chatfleet.chat.sample_index import build_sample_index

    print("building the local index of the sample corpus (first run only)", flush=True)
    return await build_sample_index(embedder=embedder)
