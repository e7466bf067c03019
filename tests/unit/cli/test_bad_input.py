"""Every command with bad input: one error naming the input and a non-zero exit, never a traceback.

The table walks the `chatfleet --help` tree; each row is one bad input an operator or SRE types (a missing
file, a malformed URL, YAML or number, an unknown choice, a host nothing listens on). Commands that need a
checkout or a cluster are covered where they say so (tests/packaging, the operator's start-up test).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chatfleet.cli import app

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SLOS = ["--slo-ttft-p95-ms", "2000", "--slo-error-rate-percent", "1", "--slo-min-tokens-per-second", "5"]

# (id, argv with {tmp}/{dead} placeholders, text the error must contain)
CASES: list[tuple[str, list[str], str]] = [
    ("render-missing-file", ["render", "-f", "{tmp}/nope.yaml"], "nope.yaml"),
    ("render-malformed-yaml", ["render", "-f", "{tmp}/broken.yaml"], "not valid YAML"),
    ("render-folder", ["render", "-f", "{tmp}"], "no such file"),
    ("render-binary-file", ["render", "-f", "{tmp}/binary.yaml"], "not UTF-8"),
    ("crd-output-unwritable", ["crd", "generate", "-o", "{tmp}/no/such/dir/crd.yaml"], "--output"),
    ("serve-port-not-a-number", ["serve", "--port", "eighty"], "--port"),
    ("serve-port-out-of-range", ["serve", "--port", "70000"], "--port"),
    ("simulator-negative-port", ["simulator", "--port", "-1"], "--port"),
    ("simulator-bad-rate", ["simulator", "--error-rate", "2"], "--error-rate"),
    ("ingest-missing-path", ["ingest", "{tmp}/nope", "--tenant", "t", "--index", "{tmp}/i.db"], "nope"),
    (
        "ingest-bad-embedder",
        ["ingest", "{tmp}", "--tenant", "t", "--index", "{tmp}/i.db", "--embedder", "x"],
        "--embedder",
    ),
    (
        "ingest-index-not-sqlite",
        ["ingest", "{tmp}", "--tenant", "t", "--index", "{tmp}/binary.yaml"],
        "--index",
    ),
    ("ingest-index-is-a-folder", ["ingest", "{tmp}", "--tenant", "t", "--index", "{tmp}"], "--index"),
    (
        "ingest-bad-search-url",
        [
            "ingest",
            "{tmp}",
            "--tenant",
            "t",
            "--azure-search-endpoint",
            "not a url",
            "--azure-search-index",
            "i",
        ],
        "--azure-search-endpoint",
    ),
    ("ingest-sample-unwritable", ["ingest-sample", "--index", "{tmp}/broken.yaml/x.db"], "--index"),
    (
        "ingest-sample-bad-embedder",
        ["ingest-sample", "--index", "{tmp}/s.db", "--embedder", "x"],
        "--embedder",
    ),
    ("loadtest-bad-url", ["loadtest", "--host", "localhost:8000", *SLOS], "--host"),
    (
        "loadtest-unknown-scenario",
        ["loadtest", "--host", "http://h", "--scenario", "soak", *SLOS],
        "--scenario",
    ),
    (
        "loadtest-unknown-fault-kind",
        ["loadtest", "--host", "http://h", "--fault-kind", "x", *SLOS],
        "--fault-kind",
    ),
    ("loadtest-bad-duration", ["loadtest", "--host", "http://h", "--run-time", "soon", *SLOS], "--run-time"),
    ("loadtest-users-not-a-number", ["loadtest", "--host", "http://h", "--users", "many", *SLOS], "--users"),
    (
        "loadtest-malformed-conversations",
        ["loadtest", "--host", "http://h", "--conversations", "{tmp}/broken.yaml", *SLOS],
        "--conversations",
    ),
    (
        "loadtest-binary-conversations",
        ["loadtest", "--host", "http://h", "--conversations", "{tmp}/binary.yaml"],
        "--conversations",
    ),
    (
        "loadtest-missing-conversations",
        ["loadtest", "--host", "http://h", "--conversations", "{tmp}/nope.jsonl", *SLOS],
        "--conversations",
    ),
    (
        "loadtest-unreachable-host",
        ["loadtest", "--host", "http://127.0.0.1:{dead}", "--wait-for-target", "0", *SLOS],
        "unreachable",
    ),
    ("operator-bad-liveness", ["operator", "run", "--liveness", "8080"], "--liveness"),
    ("up-port-not-a-number", ["up", "--port", "x"], "--port"),
]


@pytest.mark.parametrize(("argv", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_error_and_a_nonzero_exit(tmp_path: Path, argv: list[str], needle: str) -> None:
    (tmp_path / "broken.yaml").write_text("spec: [unclosed\n")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00binary")
    dead = str(closed_port())
    args = [a.replace("{tmp}", str(tmp_path)).replace("{dead}", dead) for a in argv]
    result = CliRunner().invoke(app, args)
    assert result.exit_code not in (0, None), result.output
    # an exception other than the CLI's own exits is what a traceback would print
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert needle in result.output, result.output
    assert "Traceback" not in result.output


def operator_run(tmp_path: Path, kubeconfig: Path) -> subprocess.CompletedProcess[str]:
    """A process of its own: the Kubernetes client reads KUBECONFIG once, when it is first imported."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path)}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    return subprocess.run(
        [sys.executable, "-m", "chatfleet", "operator", "run", "--wait-for-cluster", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_operator_without_a_reachable_cluster_exits_after_a_bounded_wait(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "dead.kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: dead\n"
        f"clusters: [{{name: dead, cluster: {{server: 'https://127.0.0.1:{closed_port()}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: dead, context: {cluster: dead, user: u}}]\n"
    )
    result = operator_run(tmp_path, kubeconfig)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: API server https://127.0.0.1:"), result.stderr
    assert "did not answer within 1s" in result.stderr and "Traceback" not in result.stderr


def test_operator_without_any_cluster_configured_says_so(tmp_path: Path) -> None:
    result = operator_run(tmp_path, tmp_path / "missing.kubeconfig")
    assert result.returncode == 1
    assert result.stderr.startswith("error: no cluster configured"), result.stderr
    assert "Traceback" not in result.stderr
