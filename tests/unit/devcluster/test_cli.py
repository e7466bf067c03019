"""`chatfleet dev tools` answers bad input with a message and a non-zero exit, never a traceback."""

from __future__ import annotations

from typer.testing import CliRunner

from chatfleet.cli import app


def test_unknown_tool_is_named_in_the_error() -> None:
    result = CliRunner().invoke(app, ["dev", "tools", "path", "kubeadm"])
    assert result.exit_code == 1
    assert "unknown tool 'kubeadm'" in result.output
    assert "Traceback" not in result.output


def test_build_only_unknown_tool_fails_cleanly() -> None:
    result = CliRunner().invoke(app, ["dev", "tools", "build", "--only", "nope"])
    assert result.exit_code == 1
    assert "unknown tool 'nope'" in result.output


def test_negative_node_count_is_rejected_before_anything_starts() -> None:
    result = CliRunner().invoke(app, ["dev", "cluster", "--nodes", "-1"])
    assert result.exit_code == 2
    assert "--nodes" in result.output
