"""The service in its default auth mode: Entra-style RS256 tokens checked against a JWKS served on loopback.

The full attack matrix lives with the authenticator's own tests; this proves the service wiring: the tenant
comes from the token (a tenant header cannot override it), 401s carry a Bearer challenge, /config tells the UI
how to sign in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from chatfleet.chat.config import Settings
from chatfleet.chat.problems import PROBLEM_BASE

pytestmark = pytest.mark.service

ISSUER = "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0"
AUDIENCE = "api://support-bot"
QUESTION = {"messages": [{"role": "user", "content": "What does error E1 mean?"}]}


@pytest.fixture(scope="module")
def issuer(loopback_issuer: Callable[..., Any]) -> Iterator[Any]:
    """Entra-like tokens for user-1 of fabrikam (`loopback_issuer` in tests/conftest.py)."""
    with loopback_issuer(ISSUER, AUDIENCE, oid="user-1", tid="fabrikam") as state:
        yield state


@pytest.fixture(scope="module")
def entra_settings(simulator, sample_index, issuer) -> Settings:
    return Settings(
        auth_mode="entra",
        auth_issuer=ISSUER,
        auth_audience=AUDIENCE,
        auth_jwks_uri=issuer.jwks_url,
        auth_client_id="00000000-0000-0000-0000-00000000c11e",
        auth_authority="https://login.microsoftonline.com/organizations",
        auth_scopes=["api://support-bot/chat"],
        index_path=sample_index,
        openai_deployments=[
            {"name": "sim", "endpoint": simulator.base_url, "deployment": "gpt-4o-mini", "apiKey": "k"}
        ],
    )


def test_token_tenant_wins_over_header_and_missing_token_is_401(stack, entra_settings, issuer) -> None:
    with stack.serve(entra_settings) as service:
        config = httpx.get(f"{service.url}/config").json()
        page = httpx.get(f"{service.url}/")
        msal = httpx.get(f"{service.url}/static/msal-browser.min.js")
        anonymous = httpx.post(
            f"{service.url}/chat", json=QUESTION, headers={"X-Chatfleet-Tenant": "contoso"}
        )
        forged = httpx.post(
            f"{service.url}/chat",
            json=QUESTION,
            headers={"Authorization": f"Bearer {issuer.token(aud='api://other-app')}"},
        )
        signed = httpx.post(
            f"{service.url}/chat",
            json=QUESTION,
            headers={"Authorization": f"Bearer {issuer.token()}", "X-Chatfleet-Tenant": "contoso"},
            timeout=30,
        )
    assert config["auth"] == {
        "mode": "entra",
        "enabled": True,
        "client_id": "00000000-0000-0000-0000-00000000c11e",
        "authority": "https://login.microsoftonline.com/organizations",
        "scopes": ["api://support-bot/chat"],
        "protocol": "entra",
        "renewal_offset_s": 300,
        "tenant_header": None,
    }
    # The page signs in with the vendored MSAL.js; its CSP lets it talk to the authority's origin only.
    assert '<script src="/static/msal-browser.min.js"></script>' in page.text
    assert msal.status_code == 200 and msal.text.startswith("/*! @azure/msal-browser v")
    policy = dict(part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";"))
    assert policy["connect-src"] == "'self' https://login.microsoftonline.com"
    assert "'unsafe-eval'" not in policy["script-src"] and "'unsafe-inline'" not in policy["script-src"]
    assert "frame-src" not in policy
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.json()["type"] == PROBLEM_BASE + "unauthorized"
    assert forged.status_code == 401
    assert signed.status_code == 200, signed.text
    sources = [c["source"] for c in signed.json()["context"]["data_points"]["citations"]]
    assert sources and all(not s.startswith(("vpn", "password", "expense")) for s in sources)
    assert any("thermostat" in s for s in sources), (
        "the tenant came from the token (fabrikam), not the header"
    )
