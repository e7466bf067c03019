"""`chatfleet ingest PATH... --tenant T`: build or update the local index and/or an Azure AI Search index."""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from chatfleet.chat.embeddings.factory import EmbedderName
from chatfleet.chat.ingest.progress import ProgressBar
from chatfleet.chat.ingest.screening import POLICIES


class ScreenPolicyName(StrEnum):
    """The screening policies (`ingest.screening.POLICIES`) as a typed choice for --screen-policy."""

    FLAG = "flag"
    QUARANTINE = "quarantine"
    REFUSE = "refuse"


assert tuple(ScreenPolicyName) == POLICIES, "--screen-policy must offer exactly the screen's policies"

if TYPE_CHECKING:
    from chatfleet.chat.ingest.pipeline import IngestReport

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
        EmbedderName, typer.Option("--embedder", envvar="CHATFLEET_EMBEDDER", help="Embedding model.")
    ] = EmbedderName.WORDLLAMA,
    azure_search_endpoint: Annotated[
        str | None, typer.Option("--azure-search-endpoint", envvar="CHATFLEET_SEARCH_ENDPOINT")
    ] = None,
    azure_search_index: Annotated[
        str | None, typer.Option("--azure-search-index", envvar="CHATFLEET_SEARCH_INDEX")
    ] = None,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=50, max=2000, help="Chunk size.")] = 400,
    overlap: Annotated[float, typer.Option("--overlap", min=0.0, max=0.45, help="Overlap fraction.")] = 0.15,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Re-ingest even unchanged files; lets --prune delete all of a tenant's documents."
        ),
    ] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete this tenant's sources that are not among these files.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be indexed and pruned; change nothing.")
    ] = False,
    screen_policy: Annotated[
        ScreenPolicyName,
        typer.Option(
            "--screen-policy",
            envvar="CHATFLEET_INGEST_SCREEN_POLICY",
            help="Passages the injection screen flags: flag (index, report), quarantine (leave out of the "
            "index, report) or refuse (skip the whole document, exit 1).",
        ),
    ] = ScreenPolicyName.QUARANTINE,
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
    import apsw
    from azure.core.exceptions import AzureError

    from chatfleet.chat.embeddings import EmbedderUnavailable, load_embedder
    from chatfleet.chat.ingest.pipeline import IngestTarget, PruneWouldEmptyTenant, ingest_paths
    from chatfleet.chat.ingest.screening import PassageScreen
    from chatfleet.chat.retrieval.local_index import IndexMismatch, LocalIndex

    if not TENANT_PATTERN.match(tenant):
        raise typer.BadParameter(
            "1-128 letters, digits or . _ @ : - (starting with a letter/digit)", param_hint="--tenant"
        )
    if bool(azure_search_endpoint) != bool(azure_search_index):
        raise typer.BadParameter("give both --azure-search-endpoint and --azure-search-index")
    if index is None and not azure_search_endpoint:
        raise typer.BadParameter("give --index FILE and/or --azure-search-endpoint/--azure-search-index")
    if index is not None and index.is_dir():
        raise typer.BadParameter(f"{index} is a folder, not an index file", param_hint="--index")
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise typer.BadParameter(f"no such file or folder: {', '.join(missing)}", param_hint="PATH")
    try:
        model = load_embedder(embedder.value)
    except (ValueError, EmbedderUnavailable) as exc:
        raise typer.BadParameter(str(exc), param_hint="--embedder") from exc

    targets: list[IngestTarget] = []
    local: LocalIndex | None = None
    azure = None
    scratch = tempfile.TemporaryDirectory(prefix="chatfleet-dry-run-")

    def empty_index() -> LocalIndex:
        """A dry run against an index that does not exist yet compares with a real, empty one."""
        return LocalIndex(Path(scratch.name) / "empty.db", model, readers=1)

    try:
        if index is not None:
            try:
                local = (
                    empty_index() if dry_run and not index.exists() else LocalIndex(index, model, readers=1)
                )
            except IndexMismatch as exc:
                raise typer.BadParameter(str(exc), param_hint="--index") from exc
            except (OSError, apsw.Error) as exc:
                raise typer.BadParameter(f"cannot open {index}: {exc}", param_hint="--index") from exc
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
            if dry_run and not azure.exists():
                typer.echo(f"would create Azure AI Search index {azure_search_index}")
                if local is None:
                    local = empty_index()
                    targets.append(local)
            else:
                if not dry_run and azure.ensure_index():
                    typer.echo(f"created Azure AI Search index {azure_search_index}")
                targets.append(azure)
        with ProgressBar(enabled=sys.stderr.isatty()) as bar:
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
                allow_empty=force,
                dry_run=dry_run,
                on_progress=bar.update,
                screen=PassageScreen(screen_policy.value),
            )
    except PruneWouldEmptyTenant as exc:
        typer.echo(f"error: {exc}; nothing changed (add --force to empty the tenant)", err=True)
        raise typer.Exit(code=1) from None
    except AzureError as exc:
        typer.echo(f"error: --azure-search-endpoint {azure_search_endpoint}: {exc}", err=True)
        raise typer.Exit(code=1) from None
    finally:
        if local is not None:
            import asyncio

            asyncio.run(local.aclose())
        if azure is not None:
            azure.close()
        scratch.cleanup()
    for flagged in report.flagged:
        typer.echo(
            f"flagged: {flagged.id} rules={','.join(flagged.rules)} score={flagged.score:.2f} "
            f"sha256={flagged.sha256} -> {flagged.action}"
        )
    for failure in report.failures:
        typer.echo(f"failed: {failure}", err=True)
    for source in report.refused:
        typer.echo(f"refused: {source} (passages flagged by the injection screen)", err=True)
    typer.echo(summary(tenant, report))
    if report_file is not None:
        document = {
            "tenant": tenant,
            "screen_policy": screen_policy.value,
            "dry_run": dry_run,
            **report.as_json(),
        }
        report_file.write_text(json.dumps(document, indent=2) + "\n")
    if report.failures or report.refused:
        raise typer.Exit(code=1)


def summary(tenant: str, report: IngestReport) -> str:
    """The closing lines: every file is indexed, unchanged, skipped (type not read) or failed."""
    lines = []
    if report.dry_run:
        lines += [f"would index: {source}" for source in report.ingested_sources]
        lines += [f"would prune: {source}" for source in report.pruned_sources]
    counts = (
        f"tenant {tenant}: {report.ingested} indexed, {report.unchanged} unchanged, "
        f"{report.skipped} skipped, {len(report.failures)} failed, {report.pruned} pruned"
    )
    if report.dry_run:
        lines.append(f"{counts} (dry run: nothing changed)")
    else:
        rate = f"{report.chunks_per_second:.0f} chunks/s"
        lines.append(f"{counts}; {report.chunks} chunks in {report.seconds:.2f}s ({rate})")
    return "\n".join(lines)
