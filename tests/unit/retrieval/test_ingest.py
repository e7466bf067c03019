"""The ingestion pipeline and CLI against a real index file: add, skip unchanged, replace, ACLs, PDF."""

import io
from pathlib import Path

import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject
from typer.testing import CliRunner

from chatfleet.chat.ingest import ingest_paths
from chatfleet.chat.ingest.pipeline import PruneWouldEmptyTenant
from chatfleet.chat.retrieval import LocalIndex, Principal
from chatfleet.cli import app


def pdf_with_text(text: str) -> bytes:
    """A one-page PDF whose content stream draws `text` in Helvetica (what a real PDF export holds)."""
    writer = PdfWriter()
    page = writer.add_blank_page(width=612, height=792)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
    )
    stream = DecodedStreamObject()
    stream.set_data(f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode())
    page[NameObject("/Contents")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "returns.md").write_text("# Returns\n\nUnopened items can be returned within 30 days.\n")
    (root / "sub" / "notes.txt").write_text("The helpdesk opens at 8 am on weekdays.")
    (root / "manual.pdf").write_bytes(pdf_with_text("The thermostat supports eco schedules"))
    (root / "image.png").write_bytes(b"\x89PNG not ingested")
    return root


async def test_add_skip_and_replace(tmp_path, docs, embedder):
    index = LocalIndex(tmp_path / "i.db", embedder)
    report = ingest_paths([docs], tenant="contoso", embedder=embedder, targets=[index])
    assert (report.files, report.ingested, report.unchanged, report.failures) == (3, 3, 0, [])
    assert report.chunks == index.counts()["contoso"]
    hits = index.search_sync("eco schedules thermostat", Principal("contoso"), top=3)
    assert hits[0].source == "manual.pdf"
    assert hits[0].title.endswith("(page 1)")
    assert any(h.source == "sub/notes.txt" for h in index.search_sync("helpdesk hours", Principal("contoso")))

    again = ingest_paths([docs], tenant="contoso", embedder=embedder, targets=[index])
    assert (again.ingested, again.unchanged) == (0, 3)

    (docs / "returns.md").write_text("# Returns\n\nReturns are now accepted within 60 days.\n")
    changed = ingest_paths([docs], tenant="contoso", embedder=embedder, targets=[index])
    assert (changed.ingested, changed.unchanged) == (1, 2)
    contents = [h.content for h in index.search_sync("returns days", Principal("contoso"), top=10)]
    assert any("60 days" in c for c in contents)
    assert not any("30 days" in c for c in contents)
    await index.aclose()


async def test_acl_and_tenant_are_recorded(tmp_path, docs, embedder):
    index = LocalIndex(tmp_path / "i.db", embedder)
    ingest_paths([docs / "returns.md"], tenant="t1", embedder=embedder, targets=[index], acl_groups=["sales"])
    assert index.search_sync("returned within 30 days", Principal("t1", groups=("sales",)))
    assert not index.search_sync("returned within 30 days", Principal("t1", groups=("hr",)))
    assert not index.search_sync("returned within 30 days", Principal("t2", groups=("sales",)))
    await index.aclose()


async def test_unreadable_file_is_reported_and_skipped(tmp_path, embedder):
    root = tmp_path / "bad"
    root.mkdir()
    (root / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (root / "binary.txt").write_bytes(b"abc\x00def")
    (root / "ok.md").write_text("Fine content here.")
    index = LocalIndex(tmp_path / "i.db", embedder)
    report = ingest_paths([root], tenant="t", embedder=embedder, targets=[index])
    assert report.ingested == 1
    assert len(report.failures) == 2
    await index.aclose()


def test_cli_ingests_and_reports(tmp_path, docs):
    runner = CliRunner()
    index = tmp_path / "cli.db"
    result = runner.invoke(app, ["ingest", str(docs), "--tenant", "contoso", "--index", str(index)])
    assert result.exit_code == 0, result.output
    assert "tenant contoso: 3 indexed, 0 unchanged, 1 skipped, 0 failed, 0 pruned" in result.output
    assert "chunks/s" in result.output
    result = runner.invoke(app, ["ingest", str(docs), "--tenant", "contoso", "--index", str(index)])
    assert "0 indexed, 3 unchanged, 1 skipped" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "bad tenant!"], "--tenant"),
        (["--tenant", "t", "--index", "X", "--embedder", "nope"], "--embedder"),
        (["--tenant", "t"], "--index"),
        (["--tenant", "t", "--index", "X", "--azure-search-endpoint", "https://s.example"], "both"),
    ],
)
def test_cli_rejects_bad_input_with_a_message(tmp_path, docs, args, message):
    args = [a.replace("X", str(tmp_path / "x.db")) for a in args]
    result = CliRunner().invoke(app, ["ingest", str(docs), *args])
    assert result.exit_code != 0
    assert message in result.output


def test_cli_missing_path(tmp_path):
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "nope"), "--tenant", "t", "--index", "x.db"])
    assert result.exit_code != 0
    assert "no such file" in result.output


async def test_prune_removes_sources_no_longer_present(tmp_path, docs, embedder):
    index = LocalIndex(tmp_path / "i.db", embedder)
    ingest_paths([docs], tenant="contoso", embedder=embedder, targets=[index])
    ingest_paths([docs], tenant="fabrikam", embedder=embedder, targets=[index])
    (docs / "sub" / "notes.txt").unlink()
    kept = ingest_paths([docs], tenant="contoso", embedder=embedder, targets=[index])
    assert kept.pruned == 0 and "sub/notes.txt" in index.sources("contoso")  # without --prune: kept
    report = ingest_paths([docs], tenant="contoso", embedder=embedder, targets=[index], prune=True)
    assert report.pruned == 1
    assert index.sources("contoso") == ["manual.pdf", "returns.md"]
    assert "sub/notes.txt" in index.sources("fabrikam")  # other tenants untouched
    assert not index.search_sync("helpdesk hours weekdays", Principal("contoso"), top=5, mode="text")
    await index.aclose()


async def test_prune_refuses_to_empty_a_tenant_unless_allowed(tmp_path, docs, embedder):
    index = LocalIndex(tmp_path / "i.db", embedder)
    ingest_paths([docs], tenant="contoso", embedder=embedder, targets=[index])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PruneWouldEmptyTenant, match="all 3 documents of tenant contoso"):
        ingest_paths([empty], tenant="contoso", embedder=embedder, targets=[index], prune=True)
    assert len(index.sources("contoso")) == 3
    report = ingest_paths(
        [empty], tenant="contoso", embedder=embedder, targets=[index], prune=True, allow_empty=True
    )
    assert report.pruned == 3 and index.sources("contoso") == []
    # a tenant with nothing to lose is not "emptied": pruning it with no files is fine
    assert ingest_paths([empty], tenant="new", embedder=embedder, targets=[index], prune=True).pruned == 0
    await index.aclose()


def test_cli_prune_of_an_empty_folder_needs_force(tmp_path, docs):
    runner = CliRunner()
    index = tmp_path / "cli.db"
    empty = tmp_path / "empty"
    empty.mkdir()
    base = ["ingest", "--tenant", "contoso", "--index", str(index)]
    assert runner.invoke(app, [*base, str(docs)]).exit_code == 0
    refused = runner.invoke(app, [*base, str(empty), "--prune"])
    assert refused.exit_code == 1
    assert "error: --prune would delete all 3 documents of tenant contoso" in refused.output
    assert "Traceback" not in refused.output
    unchanged = runner.invoke(app, [*base, str(docs)])
    assert "3 unchanged" in unchanged.output  # nothing was deleted
    forced = runner.invoke(app, [*base, str(empty), "--prune", "--force"])
    assert forced.exit_code == 0, forced.output
    assert "0 indexed, 0 unchanged, 0 skipped, 0 failed, 3 pruned" in forced.output


def test_cli_dry_run_lists_changes_and_changes_nothing(tmp_path, docs):
    runner = CliRunner()
    index = tmp_path / "cli.db"
    base = ["ingest", "--tenant", "contoso", "--index", str(index)]
    first = runner.invoke(app, [*base, str(docs), "--dry-run"])
    assert first.exit_code == 0, first.output
    assert not index.exists()  # a dry run does not even create the index file
    assert "would index: returns.md" in first.output and "would index: sub/notes.txt" in first.output
    assert "3 indexed" in first.output and "dry run: nothing changed" in first.output

    assert runner.invoke(app, [*base, str(docs)]).exit_code == 0
    (docs / "returns.md").write_text("# Returns\n\nNow 60 days.\n")
    (docs / "sub" / "notes.txt").unlink()
    planned = runner.invoke(app, [*base, str(docs), "--prune", "--dry-run"])
    assert planned.exit_code == 0, planned.output
    assert "would index: returns.md" in planned.output
    assert "would prune: sub/notes.txt" in planned.output
    assert "1 indexed, 1 unchanged, 1 skipped, 0 failed, 1 pruned" in planned.output
    after = runner.invoke(app, [*base, str(docs), "--dry-run"])
    assert "would index: returns.md" in after.output  # the dry run above did not write it


def test_cli_summary_counts_failed_files(tmp_path):
    root = tmp_path / "mixed"
    root.mkdir()
    (root / "ok.md").write_text("Fine content here.")
    (root / "binary.txt").write_bytes(b"abc\x00def")
    result = CliRunner().invoke(
        app, ["ingest", str(root), "--tenant", "t", "--index", str(tmp_path / "i.db")]
    )
    assert result.exit_code == 1
    assert "failed: " in result.output and "binary.txt" in result.output
    assert "1 indexed, 0 unchanged, 0 skipped, 1 failed" in result.output


async def test_progress_is_reported_per_file(tmp_path, docs, embedder):
    index = LocalIndex(tmp_path / "i.db", embedder)
    seen: list[tuple[int, int]] = []
    ingest_paths(
        [docs], tenant="t", embedder=embedder, targets=[index], on_progress=lambda d, n: seen.append((d, n))
    )
    assert seen == [(1, 3), (2, 3), (3, 3)]
    await index.aclose()
