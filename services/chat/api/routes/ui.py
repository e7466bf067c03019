"""GET /: the chat UI, one static HTML page (no CDN, no build step), and GET /static/<file>: its scripts."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from chatfleet.chat.problems import NOT_FOUND, ProblemError

router = APIRouter(tags=["ui"], include_in_schema=False)

_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _csp(page: str) -> str:
    """A strict policy: scripts only by the SHA-256 of the page's own inline script (no 'unsafe-inline') and
    the allow-listed files of /static (self), so markup that reached the page by any route cannot run code;
    inline styles stay allowed (no script)."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in _SCRIPT.findall(page)
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "connect-src 'self' https://login.microsoftonline.com; img-src 'self' data:; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'; object-src 'none'"
    )


# Served by name from this allow-list only: no path from the URL ever reaches the file system.
STATIC_FILES = {
    "history.js": "text/javascript; charset=utf-8",
    "feedback.js": "text/javascript; charset=utf-8",
}


@cache
def _read(name: str) -> str:
    return files("chatfleet.chat.ui").joinpath(name).read_text(encoding="utf-8")


def _page() -> str:
    return _read("index.html")


@cache
def _headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": _csp(_page()),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


@router.get("/", response_class=HTMLResponse)
async def index() -> HTMLResponse:
    return HTMLResponse(_page(), headers=_headers())


@router.get("/static/{name}")
async def static(name: str) -> Response:
    """The page's scripts as files of their own (a strict CSP allows scripts from 'self' only)."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise ProblemError(NOT_FOUND, "no such file")
    return Response(_read(name), media_type=media_type, headers=_headers())
