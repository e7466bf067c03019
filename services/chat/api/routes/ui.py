"""GET /: the chat UI, one static HTML page (no CDN, no build step), and GET /static/<file>: its scripts."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from chatfleet.chat.problems import NOT_FOUND, ProblemError

router = APIRouter(tags=["ui"], include_in_schema=False)

UI_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        "connect-src 'self' https://login.microsoftonline.com; img-src 'self' data:; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


# Served by name from this allow-list only: no path from the URL ever reaches the file system.
STATIC_FILES = {"history.js": "text/javascript; charset=utf-8"}


@cache
def _read(name: str) -> str:
    return files("chatfleet.chat.ui").joinpath(name).read_text(encoding="utf-8")


def _page() -> str:
    return _read("index.html")


@router.get("/", response_class=HTMLResponse)
async def index() -> HTMLResponse:
    return HTMLResponse(_page(), headers=UI_HEADERS)


@router.get("/static/{name}")
async def static(name: str) -> Response:
    """The page's scripts as files of their own (a strict CSP allows scripts from 'self' only)."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise ProblemError(NOT_FOUND, "no such file")
    return Response(_read(name), media_type=media_type, headers=UI_HEADERS)
