"""`chatfleet up` on the real node needs root: without it, one error line and exit 2, nothing started."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from chatfleet import up
from chatfleet.cli import app


def test_without_root_it_says_so_and_starts_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(up.os, "geteuid", lambda: 1000)
    result = CliRunner().invoke(app, ["up", "--workdir", str(tmp_path / "up")])
    assert result.exit_code == 2
    assert "needs root" in result.output and "--fake-nodes" in result.output
    assert not (tmp_path / "up").exists()


def test_a_workdir_too_long_for_the_kubelet_sockets_is_refused_before_anything_starts(tmp_path: Path) -> None:
    from chatfleet.stack import StackError
    from chatfleet.stack_node import NodeStack

    workdir = tmp_path / ("x" * 80)
    with pytest.raises(StackError, match="too long for the kubelet's sockets"):
        NodeStack(workdir, lambda _message: None).start()
    assert not workdir.exists()
