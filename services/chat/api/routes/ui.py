"""GET /: the chat UI, one static HTML page with inline JS and CSS (no CDN, no build step)."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["ui"], include_in_schema=False)

_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _csp(page: str) -> str:
    """A strict policy: scripts only by the SHA-256 of the page's own inline script (no 'unsafe-inline'), so
    markup that reached the page by any route cannot run code; inline styles stay allowed (no script)."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in _SCRIPT.findall(page)
    )
    return (
        f"default-src 'self'; script-src {hashes}; style-src 'self' 'unsafe-inline'; "
        "connect-src 'self' https://login.microsoftonline.com; img-src 'self' data:; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'; object-src 'none'"
    )


@cache
def _page() -> str:
    return files("chatfleet.chat.ui").joinpath("index.html").read_text(encoding="utf-8")


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
