"""`chatfleet loadtest` mints its own token: client credentials against a real (loopback HTTPS) OpenID token
endpoint through azure-identity, kept fresh in the file the users read; nothing secret is printed."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from typer.testing import CliRunner

from chatfleet.bearer import MintedToken, TokenFile, TokenSourceError, credential
from chatfleet.cli import app
from chatfleet.contracts.loadtest import TokenSource
from tests.helpers.token_endpoint import TokenEndpoint, serve_token_endpoint
from tests.helpers.tokens import LoopbackIssuer

TENANT = "72f988bf-0000-0000-0000-000000000001"
CLIENT_ID = "gate-client"
SECRET = "s3cr3t-value-never-printed"
SCOPE = "api://support-bot/.default"


@pytest.fixture
def endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TokenEndpoint]:
    """The endpoint, with the client's environment as the gate Job sets it (plus trust in its certificate)."""
    issuer = LoopbackIssuer(f"https://login.example/{TENANT}/v2.0", "unused")
    # 60 s: inside azure-identity's refresh margin, so every request for a token mints a new one
    state = TokenEndpoint(TENANT, CLIENT_ID, SECRET, expires_in=60, issuer=issuer)
    with serve_token_endpoint(state, tmp_path) as running:
        monkeypatch.setenv("AZURE_TENANT_ID", TENANT)
        monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv("AZURE_CLIENT_SECRET", SECRET)
        monkeypatch.setenv("AZURE_AUTHORITY_HOST", running.authority)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(running.ca_file))
        yield running


def test_client_credentials_mint_a_token_of_the_apps_audience(
    endpoint: TokenEndpoint, tmp_path: Path
) -> None:
    path = tmp_path / "token"
    with MintedToken(credential(TokenSource.CLIENT_CREDENTIALS), SCOPE, path) as minted:
        token = path.read_text()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, "only the load test's user reads the token"
        claims = jwt.decode(
            token,
            endpoint.issuer.private_key().public_key(),
            algorithms=["RS256"],
            audience="api://support-bot",
        )
        assert claims["tid"] == TENANT and claims["appid"] == CLIENT_ID
        (grant,) = endpoint.grants
        assert grant["grant_type"] == "client_credentials" and SCOPE in grant["scope"].split()

        minted.refresh()  # the token is within its refresh margin: a new one replaces it in the file
        assert len(endpoint.minted) == 2
        assert path.read_text() != token
        assert jwt.decode(path.read_text(), options={"verify_signature": False})["jti"] == "t1"
    assert not path.exists(), "the token does not outlive the run"


def test_a_refused_secret_fails_before_the_run_without_printing_it(
    endpoint: TokenEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "wrong-" + SECRET)
    minted = MintedToken(credential(TokenSource.CLIENT_CREDENTIALS), SCOPE, tmp_path / "token")
    with pytest.raises(TokenSourceError) as raised, minted:
        pass
    assert f"cannot get a token for {SCOPE}" in str(raised.value)
    assert SECRET not in str(raised.value)
    assert not (tmp_path / "token").exists()


def test_missing_client_credentials_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT)
    monkeypatch.delenv("AZURE_CLIENT_ID", raising=False)
    monkeypatch.delenv("AZURE_CLIENT_SECRET", raising=False)
    with pytest.raises(
        TokenSourceError, match="client-credentials needs AZURE_CLIENT_ID, AZURE_CLIENT_SECRET"
    ):
        credential(TokenSource.CLIENT_CREDENTIALS)


def test_workload_identity_without_the_webhooks_variables_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(TokenSourceError, match=re.escape("azure.workload.identity/use=true")):
        credential(TokenSource.WORKLOAD_IDENTITY)


def test_the_cli_mints_before_the_run_and_fails_a_refused_secret_with_exit_2(
    endpoint: TokenEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "wrong-" + SECRET)
    summary = tmp_path / "summary.json"
    result = CliRunner().invoke(
        app,
        ["loadtest", "--host", "http://127.0.0.1:9", "--token-source", "client-credentials",
         "--token-scope", SCOPE, "--json", str(summary), "--wait-for-target", "0"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "cannot get a token for api://support-bot/.default" in result.output
    assert SECRET not in result.output and SECRET not in summary.read_text()
    assert len(endpoint.grants) == 1, "the token is minted before any load is sent"


def test_a_minted_source_needs_a_scope() -> None:
    result = CliRunner().invoke(
        app, ["loadtest", "--host", "http://127.0.0.1:9", "--token-source", "workload-identity"]
    )
    assert result.exit_code == 2 and "--token-scope" in result.output


def test_users_read_the_minted_file_again_once_it_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("first")
    reader = TokenFile()
    assert reader.read(path) == "first"
    replacement = tmp_path / "token.new"
    replacement.write_text("second")
    replacement.replace(path)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1))
    assert reader.read(path) == "second"
    path.unlink()
    assert reader.read(path) == "second", "a file between replacements keeps the last token"


def test_the_eval_mints_the_same_way_and_fails_a_refused_secret_with_exit_2(
    endpoint: TokenEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "wrong-" + SECRET)
    message = tmp_path / "termination"
    result = CliRunner().invoke(
        app,
        ["eval", "run", "--host", "http://127.0.0.1:9", "--set", "sample", "--token-source",
         "client-credentials", "--token-scope", SCOPE, "--termination-message", str(message)],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "cannot get a token for api://support-bot/.default" in message.read_text()
    assert SECRET not in result.output and SECRET not in message.read_text()
    missing = CliRunner().invoke(
        app,
        [
            "eval",
            "run",
            "--host",
            "http://127.0.0.1:9",
            "--set",
            "sample",
            "--token-source",
            "workload-identity",
        ],
    )
    assert missing.exit_code == 2 and "--token-scope" in missing.output
