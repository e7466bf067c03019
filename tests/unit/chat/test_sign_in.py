"""The UI's sign-in: the vendored MSAL.js is the recorded npm release, and the service tells the page which
MSAL protocol mode its authority needs and allows only that authority's origin in the CSP."""

from __future__ import annotations

import hashlib
import json
from importlib.resources import files

import pytest
from pydantic import ValidationError

from chatfleet.chat.auth import sign_in
from tests.unit.chat.test_config import ENTRA, make

UI = files("chatfleet.chat.ui")


def test_the_vendored_msal_build_is_the_recorded_release() -> None:
    record = json.loads(UI.joinpath("msal-browser.json").read_text())
    code = UI.joinpath("msal-browser.min.js").read_bytes()
    assert record["package"] == "@azure/msal-browser"
    assert hashlib.sha256(code).hexdigest() == record["sha256"], "re-vendor with scripts/vendor_msal.py"
    assert record["npm_integrity"].startswith("sha512-")
    assert code.startswith(f"/*! @azure/msal-browser v{record['version']} ".encode())
    assert UI.joinpath("msal-browser.LICENSE.txt").read_text().startswith("MIT License")
    # The page's CSP has no 'unsafe-eval': the build must not need it.
    assert b"eval(" not in code and b"new Function" not in code


@pytest.mark.parametrize(
    ("authority", "protocol"),
    [
        ("https://login.microsoftonline.com/contoso.onmicrosoft.com", "entra"),
        ("https://login.microsoftonline.us/8f3c0a1e-0000-0000-0000-000000000000", "entra"),
        ("https://contoso.ciamlogin.com/contoso.onmicrosoft.com", "entra"),
        ("https://LOGIN.MICROSOFTONLINE.COM/organizations", "entra"),
        ("https://login.microsoftonline.com.evil.example/t", "oidc"),
        ("https://auth.contoso.com/realms/chat", "oidc"),
        ("https://127.0.0.1:8443", "oidc"),
    ],
)
def test_the_protocol_mode_follows_the_authority_host(authority: str, protocol: str) -> None:
    assert sign_in.protocol(authority) == protocol


def test_the_origin_is_scheme_host_and_port_only() -> None:
    assert sign_in.origin("https://login.microsoftonline.com/t/v2.0") == "https://login.microsoftonline.com"
    assert sign_in.origin("https://127.0.0.1:8443/") == "https://127.0.0.1:8443"


@pytest.mark.parametrize(
    "authority",
    [
        "http://127.0.0.1:8443",  # MSAL.js refuses plain http even on loopback
        "https://login.example/t?x=1",
        "https://login.example; script-src *",  # would rewrite the page's CSP
        "login.microsoftonline.com/t",
    ],
)
def test_an_authority_msal_cannot_use_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, authority: str
) -> None:
    with pytest.raises(ValidationError, match="CHATFLEET_AUTH_AUTHORITY must be an https:// URL"):
        make(monkeypatch, **ENTRA, auth_authority=authority)
    assert make(monkeypatch, **ENTRA, auth_authority="https://login.example/t/").auth_authority
