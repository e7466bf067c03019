"""A real test issuer: RSA keys, a JWKS document served over HTTP on 127.0.0.1, and a token factory."""

import json
import threading
import time
from collections.abc import Iterator
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://login.example.test/tenant-guid/v2.0"
AUDIENCE = "api://support-bot"


@cache
def _private_key(kid: str) -> rsa.RSAPrivateKey:
    """RSA generation costs ~0.5 s on this machine: one key per kid name for the whole session."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Issuer:
    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.requests = 0
        self.rotate("k1")

    def rotate(self, kid: str) -> None:
        self.keys[kid] = _private_key(kid)
        self.current = kid

    def jwks(self) -> dict:
        keys = []
        for kid, key in self.keys.items():
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def token(self, *, kid: str | None = None, headers: dict | None = None, **claims: object) -> str:
        now = int(time.time())
        body = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "tid": "contoso",
            "oid": "user-1",
            "groups": ["g1"],
            "roles": ["Chat.User"],
            "name": "Ada",
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        kid = kid or self.current
        return jwt.encode(body, self.keys[kid], algorithm="RS256", headers={"kid": kid, **(headers or {})})


@pytest.fixture
def issuer() -> Iterator[tuple[Issuer, str]]:
    """Yields the issuer and its JWKS URL (http on loopback, which the authenticator allows)."""
    state = Issuer()

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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/keys"
    server.shutdown()
    server.server_close()
