"""RFC 9457 problem details: every error leaves the service as `application/problem+json` with a stable
`type` URI, so clients (the UI, the load test, app teams' code) branch on the type, never on the wording.

The error kinds live below the api layer (`chatfleet.chat.problems`) so the chain raises them without knowing
HTTP; this module is where they become responses, with request validation's and Starlette's errors too.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from chatfleet.chat.problems import (
    ALL_PROBLEM_TYPES,
    INTERNAL,
    VALIDATION,
    ProblemError,
    ProblemType,
)

PROBLEM_MEDIA_TYPE = "application/problem+json"

log = logging.getLogger(__name__)

_BY_STATUS = {p.status: p for p in reversed(ALL_PROBLEM_TYPES)}


def retry_after_header(seconds: float) -> str:
    """Retry-After is whole seconds (RFC 9110); round up so clients never retry too early."""
    return str(max(1, math.ceil(seconds)))


def problem_body(
    problem: ProblemType, detail: str, instance: str | None = None, **extensions: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": problem.uri,
        "title": problem.title,
        "status": problem.status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extensions)
    return body


def problem_response(error: ProblemError, instance: str | None = None) -> JSONResponse:
    headers = dict(error.headers)
    extensions = dict(error.extensions)
    if error.retry_after_s is not None:
        headers["Retry-After"] = retry_after_header(error.retry_after_s)
        extensions.setdefault("retry_after_s", round(error.retry_after_s, 3))
    if error.problem.status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(
        problem_body(error.problem, error.detail, instance, **extensions),
        status_code=error.problem.status,
        headers=headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Field path + message only: the offending input is not echoed back (it may be large or sensitive)."""
    errors = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        errors.append(
            {
                "loc": loc,
                "field": ".".join(loc[1:] if loc and loc[0] == "body" else loc),
                "msg": err.get("msg", ""),
            }
        )
    return errors


def install_problem_handlers(app: FastAPI) -> None:
    """Replaces FastAPI's default JSON error bodies with problem details for every error path."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        fields = ", ".join(sorted({e["field"] or "body" for e in errors}))
        error = ProblemError(VALIDATION, f"invalid request fields: {fields}", extensions={"errors": errors})
        return problem_response(error, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        problem = _BY_STATUS.get(
            exc.status_code, ProblemType(f"http-{exc.status_code}", exc.status_code, "HTTP error")
        )
        detail = exc.detail if isinstance(exc.detail, str) else problem.title
        return problem_response(
            ProblemError(problem, detail, headers=dict(exc.headers or {})), request.url.path
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem_response(
            ProblemError(INTERNAL, "internal error; see the service log"), request.url.path
        )
