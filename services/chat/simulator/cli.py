"""`chatfleet simulator`: the local Azure OpenAI stand-in, with every start-up knob as a flag."""

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Adds `chatfleet simulator` to the root CLI (called from chatfleet.chat.cli)."""
    app.command("simulator")(simulator)


def simulator(
    port: int = typer.Option(8090, "--port", min=0, max=65535, help="Port to listen on (0: any free port)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; loopback unless you mean it."),
    ttft_ms: float = typer.Option(
        150.0, "--ttft-ms", min=0, help="Time to first token of an idle deployment."
    ),
    ttft_per_inflight_ms: float = typer.Option(
        0.0, "--ttft-per-inflight-ms", min=0, help="Extra TTFT per request already in flight (load knee)."
    ),
    tokens_per_second: float = typer.Option(
        60.0, "--tokens-per-second", min=0.001, help="Output pace per stream."
    ),
    min_chunk_interval_ms: float = typer.Option(
        10.0, "--min-chunk-interval-ms", min=0, help="Batch tokens so a stream wakes at most this often."
    ),
    tpm: int | None = typer.Option(None, "--tpm", min=1, help="Tokens-per-minute quota of each deployment."),
    rpm: int | None = typer.Option(
        None, "--rpm", min=1, help="Requests-per-minute quota of each deployment."
    ),
    error_rate: float = typer.Option(0.0, "--error-rate", min=0, max=1, help="Share of requests failing."),
    error_status: int = typer.Option(
        503, "--error-status", help="Status of injected failures (500/502/503/504)."
    ),
    added_latency_ms: float = typer.Option(
        0.0, "--added-latency-ms", min=0, help="Extra delay before answering."
    ),
    drop_after_tokens: int | None = typer.Option(
        None, "--drop-after-tokens", min=0, help="Cut every stream after this many tokens."
    ),
    deployment: Annotated[
        list[str] | None,
        typer.Option("--deployment", help="Accepted deployment name (repeat); default: any name."),
    ] = None,
    model: str = typer.Option("gpt-4o-mini", "--model", help="Model name reported in responses."),
    embedding_dimensions: int = typer.Option(1536, "--embedding-dimensions", min=8, max=8192),
    no_auth: bool = typer.Option(
        False, "--no-auth", help="Accept calls without api-key/Authorization header."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seed for fault dice (reproducible fault runs)."),
) -> None:
    """Run an Azure-OpenAI-compatible simulator (extractive answers, TPM/RPM limits, run-time faults)."""
    import asyncio
    import ipaddress

    from pydantic import ValidationError
    from uvicorn import Server

    from chatfleet.chat.serving import bind
    from chatfleet.chat.simulator.background import uvicorn_config
    from chatfleet.chat.simulator.config import FaultSettings, LimitSettings, SimulatorConfig
    from chatfleet.chat.simulator.server import build_app

    try:
        config = SimulatorConfig(
            ttft_ms=ttft_ms,
            ttft_per_inflight_ms=ttft_per_inflight_ms,
            tokens_per_second=tokens_per_second,
            min_chunk_interval_ms=min_chunk_interval_ms,
            limits=LimitSettings(tokens_per_minute=tpm, requests_per_minute=rpm),
            faults=FaultSettings(
                error_rate=error_rate,
                error_status=error_status,  # type: ignore[arg-type]  # an int option; the model checks it
                added_latency_ms=added_latency_ms,
                drop_after_tokens=drop_after_tokens,
            ),
            deployments=deployment or None,
            model=model,
            embedding_dimensions=embedding_dimensions,
            require_api_key=not no_auth,
            seed=seed,
        )
    except ValidationError as error:
        problem = error.errors()[0]
        field = ".".join(str(part) for part in problem["loc"])
        typer.echo(f"error: invalid simulator option {field}: {problem['msg']}", err=True)
        raise typer.Exit(2) from None
    try:
        sock = bind(host, port)
    except OSError as error:
        typer.echo(f"error: cannot listen on {host}:{port}: {error.strerror}", err=True)
        raise typer.Exit(1) from None
    bound_host, bound_port = sock.getsockname()[:2]
    if not ipaddress.ip_address(bound_host).is_loopback:
        typer.echo(
            f"warning: listening on {bound_host}: the admin API (/_sim) has no authentication and "
            "anyone who can reach this port can inject faults",
            err=True,
        )
    server = Server(uvicorn_config(build_app(config)))

    async def serve() -> None:
        """The URL line is printed once requests are served: scripts wait for it, then connect."""
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn offers a flag, no event
            await asyncio.sleep(0.01)
        if server.started:
            typer.echo(f"chatfleet simulator listening on http://{bound_host}:{bound_port}")
        await task

    asyncio.run(serve())
