"""The root CLI: one `chatfleet` command whose parts register their own subcommands."""

import subprocess
import sys

from typer.testing import CliRunner

from chatfleet import __version__
from chatfleet.cli import app


def test_version_flag_prints_package_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == __version__


def test_unknown_command_fails_with_usage_error() -> None:
    result = CliRunner().invoke(app, ["no-such-command"])
    assert result.exit_code == 2


def test_console_script_is_installed() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "chatfleet", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "chatfleet" in out
