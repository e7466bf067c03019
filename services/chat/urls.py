"""The rule for URLs the service calls out to (issuer, JWKS, Content Safety, Azure AI Search from ingest).

Below every layer that calls out, so the guards and the ingest pipeline apply it without depending on auth.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def require_secure_url(url: str, what: str) -> str:
    """https everywhere; http only to loopback (127.0.0.0/8, ::1, localhost)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and host:
        if host == "localhost":
            return url
        try:
            if ipaddress.ip_address(host).is_loopback:
                return url
        except ValueError:
            pass
    raise ValueError(f"{what} must be an https URL (http only for loopback): {url!r}")
