"""JWT attacks against the running service: every forged, stale or foreign token is a 401 problem."""

import asyncio
import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

pytestmark = pytest.mark.service

QUESTION = {"messages": [{"role": "user", "content": "How do I connect to the VPN?"}]}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged_tokens(issuer) -> dict[str, str]:
    now = int(time.time())
    claims = issuer.claims()
    good = issuer.token()
    header, _, signature = good.split(".")
    public_pem = (
        issuer.private_key("k1").public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    hs_header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    hs_input = f"{hs_header}.{b64(json.dumps(claims).encode())}"
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "alg none": f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT', 'kid': 'k1'}).encode())}."
        f"{b64(json.dumps(claims).encode())}.",
        "HS256 signed with the RSA public key": f"{hs_input}."
        + b64(hmac.new(public_pem, hs_input.encode(), hashlib.sha256).digest()),
        "expired": issuer.token(exp=now - 600, iat=now - 1200, nbf=now - 1200),
        "not yet valid": issuer.token(nbf=now + 3600),
        "wrong audience": issuer.token(aud="api://another-app"),
        "wrong issuer": issuer.token(iss="https://login.evil.example/v2.0"),
        "unknown kid": jwt.encode(claims, attacker, algorithm="RS256", headers={"kid": "attacker-kid"}),
        "right kid, attacker's key": jwt.encode(claims, attacker, algorithm="RS256", headers={"kid": "k1"}),
        "tampered payload": f"{header}.{b64(json.dumps(issuer.claims(tid='fabrikam')).encode())}.{signature}",
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
