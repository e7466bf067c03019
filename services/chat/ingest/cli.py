"""`chatfleet ingest PATH... --tenant T`: build or update the local index and/or an Azure AI Search index."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated

import typer

TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$")  # the same shape auth accepts


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (.md, .markdown, .txt, .rst, .pdf).")],
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant that owns these documents.")],
    index: Annotated[
        Path | None,
        typer.Option("--index", envvar="CHATFLEET_INDEX_PATH", help="Local index file (created if missing)."),
    ] = None,
    acl_oid: Annotated[
        list[str] | None,
        typer.Option("--acl-oid", help="Only this user (Entra oid) may see them; repeatable."),
    ] = None,
    acl_group: Annotated[
        list[str] | None,
        typer.Option("--acl-group", help="Only members of this group may see them; repeatable."),
    ] = None,
    embedder: Annotated[
        str, typer.Option("--embedder", envvar="CHATFLEET_EMBEDDER", help="wordllama (default) or minilm.")
    ] = "wordllama",
    azure_search_endpoint: Annotated[
        str | None, typer.Option("--azure-search-endpoint", envvar="CHATFLEET_SEARCH_ENDPOINT")
    ] = None,
    azure_search_index: Annotated[
        str | None, typer.Option("--azure-search-index", envvar="CHATFLEET_SEARCH_INDEX")
    ] = None,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=50, max=2000, help="Chunk size.")] = 400,
    overlap: Annotated[float, typer.Option("--overlap", min=0.0, max=0.45, help="Overlap fraction.")] = 0.15,
    force: Annotated[bool, typer.Option("--force", help="Re-ingest even unchanged files.")] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete this tenant's sources that are not among these files.")
    ] = False,
    screen_policy: Annotated[
        str,
        typer.Option(
            "--screen-policy",
            envvar="CHATFLEET_INGEST_SCREEN_POLICY",
            help="Passages the injection screen flags: flag (index, report), quarantine (leave out of the "
            "index, report) or refuse (skip the whole document, exit 1).",
        ),
    ] = "quarantine",
    report_file: Annotated[
        Path | None,
        typer.Option(
            "--report", help="Write the run's report (counts, flagged passages) as JSON to this file."
        ),
    ] = None,
) -> None:
    """Chunk, screen, embed and index documents for one tenant; changed files are replaced, unchanged skipped.

    Azure AI Search uses azure-identity; CHATFLEET_SEARCH_API_KEY is an explicit fallback.
    """
    from chatfleet.chat.embeddings import EmbedderUnavailable, load_embedder
    from chatfleet.chat.ingest.pipeline import IngestTarget, ingest_paths
    from chatfleet.chat.ingest.screening import POLICIES, PassageScreen
    from chatfleet.chat.retrieval.local_index import IndexMismatch, LocalIndex

    if not TENANT_PATTERN.match(tenant):
        raise typer.BadParameter(
            "1-128 letters, digits or . _ @ : - (starting with a letter/digit)", param_hint="--tenant"
        )
    if bool(azure_search_endpoint) != bool(azure_search_index):
        raise typer.BadParameter("give both --azure-search-endpoint and --azure-search-index")
    if index is None and not azure_search_endpoint:
        raise typer.BadParameter("give --index FILE and/or --azure-search-endpoint/--azure-search-index")
    if screen_policy not in POLICIES:
        raise typer.BadParameter(f"one of {', '.join(POLICIES)}", param_hint="--screen-policy")
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise typer.BadParameter(f"no such file or folder: {', '.join(missing)}", param_hint="PATH")
    try:
        model = load_embedder(embedder)
    except (ValueError, EmbedderUnavailable) as exc:
        raise typer.BadParameter(str(exc), param_hint="--embedder") from exc

    targets: list[IngestTarget] = []
    local: LocalIndex | None = None
    azure = None
    try:
        if index is not None:
            try:
                local = LocalIndex(index, model, readers=1)
            except IndexMismatch as exc:
                raise typer.BadParameter(str(exc), param_hint="--index") from exc
            targets.append(local)
        if azure_search_endpoint and azure_search_index:
            from chatfleet.chat.ingest.azure_target import AzureSearchTarget
            from chatfleet.contracts.endpoints import UPSTREAM

            try:
                UPSTREAM.require(azure_search_endpoint, "--azure-search-endpoint")
            except ValueError as exc:
                raise typer.BadParameter(str(exc), param_hint="--azure-search-endpoint") from exc
            azure = AzureSearchTarget(
                azure_search_endpoint,
                azure_search_index,
                dim=model.dim,
                api_key=os.environ.get("CHATFLEET_SEARCH_API_KEY") or None,
            )
            if azure.ensure_index():
                typer.echo(f"created Azure AI Search index {azure_search_index}")
            targets.append(azure)
        report = ingest_paths(
            paths,
            tenant=tenant,
            embedder=model,
            targets=targets,
            acl_oids=acl_oid or [],
            acl_groups=acl_group or [],
            max_tokens=max_tokens,
            overlap=overlap,
            force=force,
            prune=prune,
            screen=PassageScreen(screen_policy),  # type: ignore[arg-type]  # checked against POLICIES above
        )
    finally:
        if local is not None:
            import asyncio

            asyncio.run(local.aclose())
        if azure is not None:
            azure.close()
    typer.echo(
        f"tenant {tenant}: {report.files} files, {report.ingested} ingested, {report.unchanged} unchanged, "
        f"{report.pruned} pruned, "
        f"{report.chunks} chunks in {report.seconds:.2f}s ({report.chunks_per_second:.0f} chunks/s)"
    )
    for flagged in report.flagged:
        typer.echo(
            f"flagged: {flagged.id} rules={','.join(flagged.rules)} score={flagged.score:.2f} "
            f"sha256={flagged.sha256} -> {flagged.action}"
        )
    for failure in report.failures:
        typer.echo(f"skipped: {failure}", err=True)
    for source in report.refused:
        typer.echo(f"refused: {source} (passages flagged by the injection screen)", err=True)
    if report_file is not None:
        document = {"tenant": tenant, "screen_policy": screen_policy, **report.as_json()}
        report_file.write_text(json.dumps(document, indent=2) + "\n")
    if report.failures or report.refused:
        raise typer.Exit(code=1)
