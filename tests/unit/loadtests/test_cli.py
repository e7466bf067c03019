"""`chatfleet loadtest` arguments: usage errors exit 2 naming the flag, an unreachable target exits 3."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chatfleet.cli import app
from chatfleet.loadtests.cli import parse_run_time
from tests.helpers.net import free_port

SLO_ARGS = ["--slo-ttft-p95-ms", "1500", "--slo-error-rate-percent", "1", "--slo-min-tokens-per-second", "20"]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["loadtest", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ([*SLO_ARGS], "--host"),
        (["--host", "ftp://x", *SLO_ARGS], "--host"),
        (["--host", "http://127.0.0.1:9", "--scenario", "chaos", *SLO_ARGS], "--scenario"),
        (["--host", "http://127.0.0.1:9", "--run-time", "soon", *SLO_ARGS], "--run-time"),
        (["--host", "http://127.0.0.1:9", "--users", "0", *SLO_ARGS], "--users"),
        (["--host", "http://127.0.0.1:9", "--slo-error-rate-percent", "101"], "--slo-error-rate-percent"),
        (["--host", "http://127.0.0.1:9", "--scenario", "failover", *SLO_ARGS], "--simulator-admin"),
        (["--host", "http://127.0.0.1:9", "--calibrate", *SLO_ARGS], "--max-users"),
        (
            ["--host", "http://127.0.0.1:9", "--scenario", "multi-tenant", "--tenant", "a", *SLO_ARGS],
            "--tenant",
        ),
        (["--host", "http://127.0.0.1:9", "--tenant", "initech", *SLO_ARGS], "--conversations"),
        (
            ["--host", "http://127.0.0.1:9", "--scenario", "multi-tenant", "--users", "1", *SLO_ARGS],
            "--users",
        ),
        (["--host", "http://127.0.0.1:9", "--fault-kind", "meteor", *SLO_ARGS], "--fault-kind"),
    ],
)
def test_usage_errors_exit_2_naming_the_flag(args: list[str], named: str) -> None:
    code, output = invoke(*args)
    assert code == 2, output
    assert named in output


def test_run_time_spans() -> None:
    assert parse_run_time("90") == 90
    assert parse_run_time("2m") == 120
    assert parse_run_time("1h30m") == 5400
    assert parse_run_time("1m30s") == 90


def test_unreachable_target_exits_3_and_still_writes_both_summaries(tmp_path: Path) -> None:
    summary_file, message_file = tmp_path / "out" / "summary.json", tmp_path / "termination-log"
    code, output = invoke(
        "--host",
        f"http://127.0.0.1:{free_port()}",
        *SLO_ARGS,
        "--wait-for-target",
        "1",
        "--json",
        str(summary_file),
        "--termination-message",
        str(message_file),
    )
    assert code == 3, output
    assert "unreachable" in output
    summary = json.loads(summary_file.read_text())
    assert summary["passed"] is False
    assert "unreachable" in summary["error"]
    assert json.loads(message_file.read_text())["passed"] is False


def test_locustfile_path_points_at_an_existing_locustfile() -> None:
    code, output = invoke("locustfile-path")
    assert code == 0
    path = Path(output.strip())
    assert path.name == "locustfile.py"
    assert "ScenarioShape" in path.read_text()


def test_slo_defaults_are_the_crds(tmp_path: Path) -> None:
    """Without --slo-* flags a run judges by the ChatApplication spec's default SLOs, as the gate does."""
    from chatfleet.contracts.loadtest import DEFAULT_SLO
    from chatfleet.controller.spec import Slo as SpecSlo

    spec = SpecSlo()
    assert (DEFAULT_SLO.ttft_p95_ms, DEFAULT_SLO.error_rate_percent, DEFAULT_SLO.min_tokens_per_second) == (
        spec.ttft_p95_ms,
        spec.error_rate_percent,
        spec.min_tokens_per_second,
    )
    summary_file = tmp_path / "summary.json"
    code, _ = invoke(
        "--host", f"http://127.0.0.1:{free_port()}", "--wait-for-target", "0", "--json", str(summary_file)
    )
    assert code == 3
    assert json.loads(summary_file.read_text())["slo"] == DEFAULT_SLO.as_json()


def test_an_apps_own_conversations_are_for_its_own_tenants(tmp_path: Path) -> None:
    """Without --tenant the users act for the tenants of the file (the gate passes the app's allow-list)."""
    chats = tmp_path / "chats.jsonl"
    chats.write_text('{"id": "n1", "tenant": "northwind", "turns": ["Where is my order?"]}\n')
    host = f"http://127.0.0.1:{free_port()}"
    code, _ = invoke("--host", host, "--wait-for-target", "0", "--conversations", str(chats))
    assert code == 3, "accepted: it got as far as the (absent) target"
    code, output = invoke("--host", host, "--conversations", str(chats), "--tenant", "contoso")
    assert code == 2 and "no conversations for tenant 'contoso'" in output
