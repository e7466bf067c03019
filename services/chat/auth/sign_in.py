"""What the UI's sign-in (MSAL.js) needs to know about its authority, decided once on the server.

- The protocol: MSAL.js speaks Entra ID's dialect by default (instance discovery, `client_info`); any other
  OpenID Connect provider needs its plain OIDC mode. Entra's own hosts (the public and national clouds,
  External ID's ciamlogin.com, B2C's b2clogin.com) keep the default; everything else is OIDC.
- The origin: the only place the page talks to besides itself (discovery, token redemption and renewal), so
  the page's CSP allows exactly that origin in `connect-src`.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

ENTRA_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
    }
)
ENTRA_HOST_SUFFIXES = (".ciamlogin.com", ".b2clogin.com")


def protocol(authority: str) -> Literal["entra", "oidc"]:
    """`entra` for Microsoft Entra authorities, `oidc` for any other OpenID Connect provider."""
    host = (urlsplit(authority).hostname or "").lower()
    return "entra" if host in ENTRA_HOSTS or host.endswith(ENTRA_HOST_SUFFIXES) else "oidc"


def origin(authority: str) -> str:
    """`https://host[:port]` of the authority (settings only accept https authorities with a plain host)."""
    parts = urlsplit(authority)
    return f"{parts.scheme}://{parts.netloc}".lower()
