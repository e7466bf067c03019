"""`chatfleet eval` usage errors: one `error:` line, exit 2, nothing sent and nothing written."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chatfleet.cli import app
from tests.helpers.net import free_port


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "ftp://x", "--set", "sample"], "is not an http(s) URL"),
        (["--host", "http://127.0.0.1:1", "--set", "absent.jsonl"], "absent.jsonl: No such file"),
        (["--host", "http://127.0.0.1:1", "--set", "sample", "--min", "speed=1"], "expected METRIC=VALUE"),
        (["--host", "http://127.0.0.1:1", "--set", "sample", "--embedder", "bert"], "is not one of"),
        (
            ["--host", "http://127.0.0.1:1", "--set", "sample", "--min", "judge_relevance=4"],
            "--min judge_relevance needs a judge: give --judge-deployment",
        ),
        (
            ["--host", "http://127.0.0.1:1", "--set", "sample", "--min", "judge_relevance=0.9"],
            "between 1 and 5",
        ),
        (
            ["--host", "http://127.0.0.1:1", "--set", "sample", "--judge-deployment", "gpt-4o"],
            "--judge-deployment needs --judge-endpoint",
        ),
        (
            [
                *("--host", "http://127.0.0.1:1", "--set", "sample", "--judge-deployment", "gpt-4o"),
                *("--judge-endpoint", "http://aoai.example.com"),
            ],
            "--judge-endpoint must be an https:// URL",
        ),
    ],
)
def test_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["eval", "run", *args, "--json", str(out)])
    assert result.exit_code == 2
    assert message in result.stderr and result.stderr.startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not out.exists()


def test_an_unreachable_service_is_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    host = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(app, ["eval", "run", "--host", host, "--set", "sample", "--json", str(out)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {host} is unreachable")
    assert not out.exists()


def test_compare_refuses_what_is_not_a_report(tmp_path: Path) -> None:
    base = tmp_path / "base.json"
    base.write_text(json.dumps({"hello": 1}))
    result = CliRunner().invoke(app, ["eval", "compare", str(base), str(base)])
    assert result.exit_code == 2
    assert "not a `chatfleet eval run --json` report" in result.stderr


def test_an_unreachable_service_still_leaves_a_termination_message(tmp_path: Path) -> None:
    message = tmp_path / "termination-log"
    host = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(
        app, ["eval", "run", "--host", host, "--set", "sample", "--termination-message", str(message)]
    )
    assert result.exit_code == 2
    written = json.loads(message.read_text())
    assert written["passed"] is False and written["error"].startswith(f"{host} is unreachable")
