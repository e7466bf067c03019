"""Required scopes/app roles and the per-user request rate on the real service, with real signed tokens;
and what the anonymous endpoints say (nothing about tenants)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chatfleet.chat.config import Settings
from chatfleet.chat.problems import PROBLEM_BASE
from chatfleet.chat.simulator.background import RunningSimulator
from tests.helpers.simulator import sim_deployment
from tests.service.security.conftest import AUDIENCE, ISSUER, Service

pytestmark = pytest.mark.service

QUESTION = {"messages": [{"role": "user", "content": "How do I reset my password?"}]}
PER_MINUTE = 3
HIDDEN_TENANT = "northwind-7f3a"  # allow-listed, and in no static page or sample


@pytest.fixture(scope="module")
def strict(
    issuer: Any, two_tenant_index: Path, simulator: RunningSimulator, serve_app: Callable[..., Any]
) -> Iterator[Service]:
    settings = Settings(
        auth_mode="entra",
        auth_issuer=ISSUER,
        auth_audience=AUDIENCE,
        auth_jwks_uri=issuer.jwks_url,
        auth_required_scopes=["Chat.Use"],
        auth_required_roles=["Chat.User"],
        user_requests_per_minute=PER_MINUTE,
        tenants=["contoso", "fabrikam", HIDDEN_TENANT],
        index_path=two_tenant_index,
        openai_deployments=[sim_deployment(simulator)],
        tenant_tokens_per_minute=0,
    )
    with serve_app(settings) as (url, _):
        yield Service(url)


async def test_token_without_the_required_scope_or_role_is_403_insufficient_scope(strict, issuer) -> None:
    cases = {
        "no scp": issuer.token(roles=["Chat.User"]),
        "other scope": issuer.token(scp="User.Read", roles=["Chat.User"], oid="u-scope"),
        "no role": issuer.token(scp="Chat.Use", oid="u-role"),
    }
    for name, token in cases.items():
        async with strict.client(token) as client:
            response = await client.post("/chat", json=QUESTION)
        assert response.status_code == 403, name
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == PROBLEM_BASE + "forbidden"
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"], name
    async with strict.client(issuer.token(scp="User.Read Chat.Use", roles=["Chat.User"], oid="ok")) as client:
        assert (await client.post("/chat", json=QUESTION)).status_code == 200


async def test_per_user_rate_limit_is_keyed_by_tenant_and_oid(strict, issuer) -> None:
    def token(oid: str, tid: str = "contoso") -> str:
        return issuer.token(scp="Chat.Use", roles=["Chat.User"], oid=oid, tid=tid)

    async with strict.client(token("rate-a")) as client:
        codes = [(await client.get("/v1/models")).status_code for _ in range(PER_MINUTE)]
        limited = await client.post("/chat", json=QUESTION)
    assert codes == [200] * PER_MINUTE
    assert limited.status_code == 429
    assert limited.json()["type"] == PROBLEM_BASE + "user-rate-limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # another user of the same tenant, and the same oid in another tenant, have their own allowance
    for other in (token("rate-b"), token("rate-a", tid="fabrikam")):
        async with strict.client(other) as client:
            assert (await client.get("/v1/models")).status_code == 200


ANONYMOUS = ("/", "/config", "/healthz", "/readyz", "/openapi.json", "/docs", "/redoc", "/metrics")


async def test_anonymous_endpoints_name_no_tenant(strict: Service) -> None:
    """Nothing a caller without a token can fetch names a tenant the app serves."""
    async with strict.client(None) as client:
        for path in ANONYMOUS:
            response = await client.get(path)
            assert HIDDEN_TENANT not in response.text, path
        config = (await client.get("/config")).json()
        metrics = await client.get("/metrics")
    assert "tenants" not in config["auth"]
    assert metrics.status_code == 404
