"""Entra-like bearer tokens for the auth tests: a real issuer on loopback (RSA keys, a JWKS document over
HTTP, RS256 tokens) and the building blocks of the forged tokens an attacker would try."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.helpers.http_stub import JsonHandler, serve_http


@cache
def _private_key(kid: str) -> rsa.RSAPrivateKey:
    """RSA generation costs ~0.5 s on this machine: one key per kid name for the whole session."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class LoopbackIssuer:
    """An Entra-like token issuer: RSA keys by kid, its JWKS served over HTTP on 127.0.0.1 (`jwks_url`,
    counting `requests`), and RS256 tokens with the configured issuer, audience and default claims."""

    def __init__(self, issuer: str, audience: str, **default_claims: Any) -> None:
        self.issuer = issuer
        self.audience = audience
        self.default_claims = default_claims
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.requests = 0
        self.jwks_url = ""
        self.rotate("k1")

    def rotate(self, kid: str) -> None:
        """Publishes a new key and signs with it from now on (the old keys stay published)."""
        self.keys[kid] = _private_key(kid)
        self.current = kid

    def private_key(self, kid: str = "k1") -> rsa.RSAPrivateKey:
        return self.keys[kid]

    def public_pem(self, kid: str = "k1") -> bytes:
        return self.keys[kid].public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.keys.items():
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Valid claims for now; an override of None removes the claim."""
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.audience, "iat": now, "nbf": now, "exp": now + 600}
        claims.update(self.default_claims)
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, *, kid: str | None = None, headers: dict[str, Any] | None = None, **claims: Any) -> str:
        kid = kid or self.current
        return jwt.encode(
            self.claims(**claims), self.keys[kid], algorithm="RS256", headers={"kid": kid, **(headers or {})}
        )


@contextmanager
def serve_issuer(issuer: str, audience: str, **default_claims: Any) -> Iterator[LoopbackIssuer]:
    """A LoopbackIssuer whose JWKS is served until the block ends."""
    state = LoopbackIssuer(issuer, audience, **default_claims)

    class Handler(JsonHandler):
        def do_GET(self) -> None:
            state.requests += 1
            self.send_json(200, state.jwks())

    with serve_http(Handler, name="jwks") as url:
        state.jwks_url = f"{url}/discovery/v2.0/keys"
        yield state


def b64url(data: bytes) -> str:
    """Base64url without padding, as JWT segments are written."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(claims: dict[str, Any], header: dict[str, Any]) -> str:
    """A token with an empty signature (the `alg: none` attack)."""
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}."


def hs256_token(claims: dict[str, Any], secret: bytes, kid: str = "k1") -> str:
    """HS256 with a secret the attacker knows, e.g. the issuer's public key (algorithm confusion)."""
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64url(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


@cache
def attacker_key() -> rsa.RSAPrivateKey:
    """An RSA key the issuer never published (one per session: generating one costs ~0.5 s)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def attacker_token(claims: dict[str, Any], kid: str) -> str:
    """Valid claims, signed with the attacker's key under the given kid."""
    return jwt.encode(claims, attacker_key(), algorithm="RS256", headers={"kid": kid})
