"""Sign-in in a real browser against a real OpenID Connect provider (panva's oidc-provider,
tests/browser/oidc): the page's MSAL.js signs in with the authorization code + PKCE through the provider's own
login form, the chat service verifies the provider's tokens (issuer, audience, JWKS over https), the page
renews an expired access token with the refresh token without a new login, and signs out."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import load_pem_x509_certificate
from playwright.sync_api import Page, Request, expect, sync_playwright

from chatfleet.devcluster.pki import CertificateAuthority
from chatfleet.paths import REPO_ROOT
from tests.helpers.net import free_port
from tests.helpers.processes import stop
from tests.helpers.serve import serve_subprocess

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
PROVIDER = REPO_ROOT / "tests" / "browser" / "oidc"
CLIENT_ID = "chatfleet-ui"
AUDIENCE = "api://chatfleet-test"
SCOPE = "chat.use"
ACCESS_TOKEN_TTL_S = 30
RENEWAL_OFFSET_S = 5  # the page's token is fresh for 25 s (time to chat on a loaded machine), then renewed
QUESTION = {"messages": [{"role": "user", "content": "How long is parental leave?"}]}


@dataclass
class Provider:
    issuer: str
    events: Path
    spki: str  # base64 SHA-256 of the serving certificate's public key, for Chromium to trust it

    def grants(self) -> list[dict[str, str]]:
        lines = self.events.read_text().splitlines() if self.events.exists() else []
        return [json.loads(line) for line in lines]


@pytest.fixture
def tls(tmp_path: Path) -> tuple[Path, Path, Path, str]:
    """A throw-away CA and a serving certificate for 127.0.0.1 (MSAL accepts https authorities only)."""
    ca = CertificateAuthority("chatfleet-test-oidc-ca")
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.cert_pem)
    cert, key = ca.issue_server("127.0.0.1", ["localhost"], ["127.0.0.1"]).write(tmp_path, "provider")
    public = load_pem_x509_certificate(cert.read_bytes()).public_key()
    spki = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return ca_file, cert, key, base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture
def provider(tls: tuple[Path, Path, Path, str], tmp_path: Path) -> Iterator[tuple[Provider, int]]:
    """oidc-provider on https://127.0.0.1:<port>; the chat page (on a port chosen now) is its SPA client."""
    if not (PROVIDER / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("oidc-provider missing: CHATFLEET_WITH_BROWSER=1 bash scripts/bootstrap.sh")
    _, cert, key, spki = tls
    chat_port = free_port()
    options = {
        "cert": str(cert),
        "key": str(key),
        "clientId": CLIENT_ID,
        "redirectUri": f"http://127.0.0.1:{chat_port}/",
        "audience": AUDIENCE,
        "scope": SCOPE,
        "accessTokenTtlS": ACCESS_TOKEN_TTL_S,
        "tenant": "contoso",
        "eventsFile": str(tmp_path / "grants.jsonl"),
    }
    proc = subprocess.Popen(
        ["node", "provider.mjs", json.dumps(options)], cwd=PROVIDER, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            pytest.fail(f"oidc-provider did not start (exit {proc.wait(10)})")
        yield Provider(json.loads(line)["issuer"], tmp_path / "grants.jsonl", spki), chat_port
    finally:
        stop(proc, 5, 5)


@pytest.fixture
def chat(tls: tuple[Path, Path, Path, str], provider: tuple[Provider, int], tmp_path: Path) -> Iterator[str]:
    """The chat service validating the provider's tokens; its UI signs in at the provider."""
    ca_file = tls[0]
    idp, port = provider
    env = {
        "SSL_CERT_FILE": str(ca_file),  # the service fetches the provider's discovery document and JWKS
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "CHATFLEET_AUTH_MODE": "entra",
        "CHATFLEET_AUTH_ISSUER": idp.issuer,
        "CHATFLEET_AUTH_AUDIENCE": AUDIENCE,
        "CHATFLEET_AUTH_LEEWAY_S": "0",  # an expired token is refused at once
        "CHATFLEET_AUTH_CLIENT_ID": CLIENT_ID,
        "CHATFLEET_AUTH_AUTHORITY": idp.issuer,
        "CHATFLEET_AUTH_SCOPES": SCOPE,
        "CHATFLEET_AUTH_RENEWAL_OFFSET_S": str(RENEWAL_OFFSET_S),
    }
    args = ("--dev", "--simulator-ttft-ms", "100", "--simulator-tokens-per-second", "60")
    with serve_subprocess(env, *args, port=port) as service:
        yield service.url


def answered(page: Page, question: str) -> str:
    """Asks and returns the streamed answer once complete (failing on an error shown under it)."""
    turns = page.locator(".turn.assistant")
    before = turns.count()
    page.fill("#question", question)
    page.keyboard.press("Enter")
    expect(turns).to_have_count(before + 1)
    turn = turns.last
    expect(turn.locator(".bubble")).to_have_class("bubble", timeout=30000)  # no longer streaming
    expect(page.locator("#send")).to_be_enabled(timeout=30000)
    expect(turn.locator(".error")).to_have_count(0)
    return turn.locator(".bubble").inner_text()


def test_sign_in_chat_renew_and_sign_out(chat: str, provider: tuple[Provider, int], tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Debian chromium missing: apt-get install -y chromium")
    idp, _ = provider
    sent: list[str] = []  # the bearer tokens of the page's chat calls

    def on_request(request: Request) -> None:
        if request.url.startswith(f"{chat}/chat/stream"):
            sent.append(request.headers.get("authorization", ""))

    args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        f"--ignore-certificate-errors-spki-list={idp.spki}",  # trusts the provider's key only
    ]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("request", on_request)
            page.goto(chat)
            expect(page.locator("#ask")).to_be_hidden()
            page.get_by_role("button", name="Sign in").click()

            # The provider's own login and consent forms.
            page.wait_for_url(f"{idp.issuer}/**")
            page.fill("input[name=login]", "alice")
            page.fill("input[name=password]", "any password")
            page.get_by_role("button", name="Sign-in").click()
            page.get_by_role("button", name="Continue").click()

            page.wait_for_url(f"{chat}/**")
            expect(page.locator("#signOut")).to_be_visible(timeout=15000)
            assert "leave" in answered(page, "How long is parental leave?").lower()
            first = sent[-1].removeprefix("Bearer ")
            claims = jwt.decode(first, options={"verify_signature": False})
            assert (claims["iss"], claims["aud"], claims["tid"]) == (idp.issuer, AUDIENCE, "contoso")
            assert [g["grant_type"] for g in idp.grants()] == ["authorization_code"]
            assert idp.grants()[0]["access_token"] == first
            page.screenshot(path=str(tmp_path / "signed-in.png"))

            # Past its expiry the first token is refused by the service...
            time.sleep(max(0.0, claims["exp"] - time.time() + 1))
            expired = httpx.post(f"{chat}/chat", json=QUESTION, headers={"Authorization": f"Bearer {first}"})
            assert expired.status_code == 401, expired.text
            # ... and the page renews with the refresh token: a new token, no new login.
            answer = answered(page, "Does that apply to both parents?")
            assert answer.strip()
            renewed = sent[-1].removeprefix("Bearer ")
            assert renewed != first
            grants = idp.grants()
            assert [g["grant_type"] for g in grants] == ["authorization_code", "refresh_token"]
            assert grants[-1]["access_token"] == renewed
            assert jwt.decode(renewed, options={"verify_signature": False})["exp"] > claims["exp"]

            page.get_by_role("button", name="Sign out").click()
            page.wait_for_url(f"{idp.issuer}/**")
            page.get_by_role("button", name="Yes, sign me out").click()
            page.wait_for_url(f"{chat}/**")
            expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=15000)
            expect(page.locator("#ask")).to_be_hidden()
            cached = page.evaluate("Object.keys(sessionStorage).filter((k) => k.includes('accesstoken'))")
            assert cached == []
            anonymous = httpx.post(f"{chat}/chat", json=QUESTION)
            assert anonymous.status_code == 401
            assert not [p for p in problems if "Content Security Policy" in p], problems
        finally:
            browser.close()
