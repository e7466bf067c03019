"""Fixtures every tier shares. Test modules cannot import each other (importlib mode), so shared helpers
live here as fixtures."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa


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
def _serve_issuer(issuer: str, audience: str, **default_claims: Any) -> Iterator[LoopbackIssuer]:
    state = LoopbackIssuer(issuer, audience, **default_claims)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests += 1
            body = json.dumps(state.jwks()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="jwks", daemon=True)
    thread.start()
    state.jwks_url = f"http://127.0.0.1:{server.server_address[1]}/discovery/v2.0/keys"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def loopback_issuer() -> Callable[..., AbstractContextManager[LoopbackIssuer]]:
    """`with loopback_issuer(ISSUER, AUDIENCE, tid="contoso") as issuer:` inside a fixture of the scope the
    tests need (a fresh key set per test, or one per module or session)."""
    return _serve_issuer
