"""`chatfleet loadtest --token-source client-credentials` end to end: the CLI mints a token through
azure-identity from a loopback HTTPS token endpoint, and its Locust users send it to a chat service in Entra
mode that validates it against the issuer's JWKS; without the token every answer would be a 401."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.token_endpoint import TokenEndpoint, serve_token_endpoint

pytestmark = pytest.mark.service

TENANT = "fabrikam"
ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"
AUDIENCE = "api://support-bot"
SECRET = "gate-secret-never-printed"


def test_loadtest_users_send_the_token_the_cli_minted(
    stack: Any, loopback_issuer: Callable[..., Any], tmp_path: Path
) -> None:
    with loopback_issuer(ISSUER, AUDIENCE) as issuer:
        endpoint = TokenEndpoint(TENANT, "gate-client", SECRET, expires_in=3600, issuer=issuer)
        settings = stack.settings(
            dev_mode=False,
            auth_mode="entra",
            auth_issuer=ISSUER,
            auth_audience=AUDIENCE,
            auth_jwks_uri=issuer.jwks_url,
            tenant_tokens_per_minute=0,
        )
        with serve_token_endpoint(endpoint, tmp_path), stack.serve(settings) as service:
            summary_file = tmp_path / "summary.json"
            env = {
                **os.environ,
                "AZURE_TENANT_ID": TENANT,
                "AZURE_CLIENT_ID": "gate-client",
                "AZURE_CLIENT_SECRET": SECRET,
                "AZURE_AUTHORITY_HOST": endpoint.authority,
                "REQUESTS_CA_BUNDLE": str(endpoint.ca_file),
            }
            env.pop("CHATFLEET_LOADTEST_TOKEN", None)
            result = subprocess.run(
                [sys.executable, "-m", "chatfleet", "loadtest", "--host", service.url, "--users", "2",
                 "--run-time", "6s", "--tenant", TENANT, "--token-source", "client-credentials",
                 "--token-scope", f"{AUDIENCE}/.default", "--json", str(summary_file),
                 "--slo-ttft-p95-ms", "5000", "--slo-error-rate-percent", "0",
                 "--slo-min-tokens-per-second", "1", "--progress-interval", "0"],
                env=env, capture_output=True, text=True, timeout=180, check=False,
            )  # fmt: skip
    summary = json.loads(summary_file.read_text())
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert summary["requests"] > 0 and summary["failures"] == 0, "every answer was authenticated"
    assert len(endpoint.minted) == 1, "one token for the run (azure-identity caches it)"
    assert endpoint.minted[0]["aud"] == AUDIENCE
    output = result.stdout + result.stderr
    assert SECRET not in output
    assert issuer.token(**endpoint.minted[0]) not in output, "the token is never printed"
