"""GET /: the chat UI, one static HTML page (no CDN, no build step), and GET /static/<file>: its scripts."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from chatfleet.chat.api.deps import RuntimeDep
from chatfleet.chat.auth import sign_in
from chatfleet.chat.problems import NOT_FOUND, ProblemError

router = APIRouter(tags=["ui"], include_in_schema=False)

_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _csp(page: str, authority: str | None) -> str:
    """A strict policy: scripts only by the SHA-256 of the page's own inline script (no 'unsafe-inline') and
    the allow-listed files of /static (self), so markup that reached the page by any route cannot run code;
    inline styles stay allowed (no script). MSAL.js (a /static file) needs no eval; its only network peer
    besides the page's origin is the sign-in authority (discovery, code redemption, refresh-token renewal),
    so `connect-src` adds exactly that origin. No `frame-src`: silent renewal uses the refresh token, never
    a hidden iframe (the UI asks MSAL for cache and refresh token only), so frames stay 'self' by default."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in _SCRIPT.findall(page)
    )
    connect = "'self'" + (f" {sign_in.origin(authority)}" if authority else "")
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        f"connect-src {connect}; img-src 'self' data:; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'; object-src 'none'"
    )


# Served by name from this allow-list only: no path from the URL ever reaches the file system.
STATIC_FILES = {
    "history.js": "text/javascript; charset=utf-8",
    "feedback.js": "text/javascript; charset=utf-8",
    "signin.js": "text/javascript; charset=utf-8",
    # @azure/msal-browser's own browser build, vendored (msal-browser.json records version and digest).
    "msal-browser.min.js": "text/javascript; charset=utf-8",
}


@cache
def _read(name: str) -> str:
    return files("chatfleet.chat.ui").joinpath(name).read_text(encoding="utf-8")


def _page() -> str:
    return _read("index.html")


@cache
def _headers(authority: str | None) -> dict[str, str]:
    return {
        "Content-Security-Policy": _csp(_page(), authority),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


@router.get("/", response_class=HTMLResponse)
async def index(runtime: RuntimeDep) -> HTMLResponse:
    return HTMLResponse(_page(), headers=_headers(runtime.settings.auth_authority))


@router.get("/static/{name}")
async def static(name: str, runtime: RuntimeDep) -> Response:
    """The page's scripts as files of their own (a strict CSP allows scripts from 'self' only)."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise ProblemError(NOT_FOUND, "no such file")
    return Response(_read(name), media_type=media_type, headers=_headers(runtime.settings.auth_authority))
