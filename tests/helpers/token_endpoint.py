"""An Entra-like OAuth 2.0 token endpoint on loopback HTTPS for the client-credentials grant: OpenID
discovery per tenant and a token endpoint that checks the client's secret and signs RS256 tokens for the
requested scope with a LoopbackIssuer's keys. HTTPS because azure-identity refuses any other authority;
its self-signed certificate is written to `ca_file` for the client to trust."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.helpers.http_stub import JsonHandler
from tests.helpers.tokens import LoopbackIssuer


@dataclass
class TokenEndpoint:
    """What the endpoint accepts and what it did."""

    tenant: str
    client_id: str
    client_secret: str
    expires_in: int
    issuer: LoopbackIssuer
    authority: str = ""
    ca_file: Path = Path()
    minted: list[dict[str, Any]] = field(default_factory=list)  # the claims of every token issued
    grants: list[dict[str, str]] = field(default_factory=list)  # the form fields of every token request


def self_signed(directory: Path, address: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate for `address` that is its own CA (the file a client trusts), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "endpoint.pem", directory / "endpoint.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


@contextmanager
def serve_token_endpoint(state: TokenEndpoint, directory: Path) -> Iterator[TokenEndpoint]:
    """Serves `state` on https://127.0.0.1:<port> (the authority) until the block ends."""

    class Handler(JsonHandler):
        def do_GET(self) -> None:
            if self.path != f"/{state.tenant}/v2.0/.well-known/openid-configuration":
                self.send_json(404, {"error": "not_found"})
                return
            base = f"{state.authority}/{state.tenant}"
            self.send_json(
                200,
                {
                    "issuer": f"{base}/v2.0",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "jwks_uri": f"{base}/discovery/v2.0/keys",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["pairwise"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                },
            )

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            form = {k: v[0] for k, v in parse_qs(body).items()}
            state.grants.append(form)
            if self.path != f"/{state.tenant}/oauth2/v2.0/token":
                self.send_json(404, {"error": "not_found"})
            elif form.get("grant_type") != "client_credentials":
                self.send_json(400, {"error": "unsupported_grant_type"})
            elif form.get("client_id") != state.client_id or form.get("client_secret") != state.client_secret:
                self.send_json(
                    401,
                    {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret."},
                )
            else:
                scope = form.get("scope", "").split()
                audience = next((s.removesuffix("/.default") for s in scope if s.endswith("/.default")), "")
                now = int(time.time())
                claims = state.issuer.claims(
                    aud=audience,
                    tid=state.tenant,
                    appid=state.client_id,
                    roles=["LoadTest"],
                    iat=now,
                    nbf=now,
                    exp=now + state.expires_in,
                    jti=f"t{len(state.minted)}",
                )
                state.minted.append(claims)
                token = state.issuer.token(**claims)
                self.send_json(
                    200, {"token_type": "Bearer", "expires_in": state.expires_in, "access_token": token}
                )

    cert_file, key_file = self_signed(directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state.authority = f"https://127.0.0.1:{server.server_address[1]}"
    state.ca_file = cert_file
    threading.Thread(target=server.serve_forever, name="token-endpoint", daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
