"""JWT attacks against the running service: every forged, stale or foreign token is a 401 problem."""

import asyncio
import json
import time

import pytest

from tests.helpers.tokens import attacker_token, b64url, hs256_token, unsigned_token

pytestmark = pytest.mark.service

QUESTION = {"messages": [{"role": "user", "content": "How do I connect to the VPN?"}]}


def forged_tokens(issuer) -> dict[str, str]:
    now = int(time.time())
    claims = issuer.claims()
    good = issuer.token()
    header, _, signature = good.split(".")
    tampered = b64url(json.dumps(issuer.claims(tid="fabrikam")).encode())
    return {
        "alg none": unsigned_token(claims, {"alg": "none", "typ": "JWT", "kid": "k1"}),
        "HS256 signed with the RSA public key": hs256_token(claims, issuer.public_pem("k1")),
        "expired": issuer.token(exp=now - 600, iat=now - 1200, nbf=now - 1200),
        "not yet valid": issuer.token(nbf=now + 3600),
        "wrong audience": issuer.token(aud="api://another-app"),
        "wrong issuer": issuer.token(iss="https://login.evil.example/v2.0"),
        "unknown kid": attacker_token(claims, "attacker-kid"),
        "right kid, attacker's key": attacker_token(claims, "k1"),
        "tampered payload": f"{header}.{tampered}.{signature}",
        "not a JWT": "definitely.not.a-jwt",
    }


async def test_forged_and_invalid_tokens_are_401(service, issuer):
    for name, token in forged_tokens(issuer).items():
        async with service.client(token) as client:
            response = await client.post("/chat", json=QUESTION)
        assert response.status_code == 401, (name, response.text)
        assert response.headers["content-type"].startswith("application/problem+json"), name
        assert response.headers["www-authenticate"].startswith("Bearer"), name
        assert token not in response.text, name  # the token is never echoed


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Basic dXNlcjpwYXNz", "bearer a b c", "Token abc", "Bearer abc.def", "Bearer ..."],
)
async def test_missing_or_malformed_authorization_is_401(service, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    async with service.client(**headers) as client:
        for path in ("/chat", "/chat/stream", "/v1/chat/completions"):
            body = QUESTION if path != "/v1/chat/completions" else {"model": "x", **QUESTION}
            response = await client.post(path, json=body)
            assert response.status_code == 401, (path, authorization, response.text)


async def test_valid_token_is_served(service, issuer):
    async with service.client(issuer.token()) as client:
        response = await client.post("/chat", json=QUESTION)
    assert response.status_code == 200, response.text
    assert response.json()["message"]["content"]


async def test_tenant_outside_the_allow_list_is_403(service, issuer):
    async with service.client(issuer.token(tid="northwind")) as client:
        response = await client.post("/chat", json=QUESTION)
    assert response.status_code == 403, response.text


async def test_dev_tenant_header_is_ignored_in_entra_mode(service):
    async with service.client(**{"X-Chatfleet-Tenant": "contoso"}) as client:
        response = await client.post("/chat", json=QUESTION)
    assert response.status_code == 401


async def test_key_rotation_is_picked_up(service, issuer):
    async with service.client(issuer.token(kid="k1")) as client:
        assert (await client.post("/chat", json=QUESTION)).status_code == 200
    issuer.rotate("k2")
    deadline = (
        time.monotonic() + 10
    )  # unknown-kid refetches are rate limited (CHATFLEET_AUTH_JWKS_MIN_REFRESH_S=1)
    status = None
    while time.monotonic() < deadline:
        async with service.client(issuer.token(kid="k2")) as client:
            status = (await client.post("/chat", json=QUESTION)).status_code
        if status == 200:
            break
        assert status == 401
        await asyncio.sleep(0.5)
    assert status == 200
    async with service.client(issuer.token(kid="k1")) as client:  # old key still published: still valid
        assert (await client.post("/chat", json=QUESTION)).status_code == 200
