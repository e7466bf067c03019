"""`chatfleet simulator` as a process: prints its URL once listening, serves, validates its flags."""

import re
import subprocess
import sys

import httpx
import pytest
from typer.testing import CliRunner

from chatfleet.cli import app
from chatfleet.contracts.azure_openai import DEFAULT_API_VERSION

pytestmark = pytest.mark.service


def test_command_serves_on_a_free_port() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "chatfleet", "simulator", "--port", "0", "--ttft-ms", "0", "--tpm", "5000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        match = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline())
        assert match, "the first line names the URL"
        response = httpx.post(
            f"{match.group(0)}/openai/deployments/gpt/chat/completions?api-version={DEFAULT_API_VERSION}",
            headers={"api-key": "k"},
            json={"messages": [{"role": "user", "content": "hello there"}], "max_tokens": 100},
            timeout=10,
        )
        assert response.status_code == 200
        assert 4800 < int(response.headers["x-ratelimit-remaining-tokens"]) < 4900
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--error-status", "404"], "error_status"),
        (["--error-rate", "3"], "--error-rate"),
        (["--tokens-per-second", "0"], "--tokens-per-second"),
    ],
)
def test_bad_flags_exit_non_zero_naming_the_flag(flags: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["simulator", "--port", "0", *flags])
    assert result.exit_code == 2
    assert message in result.output
