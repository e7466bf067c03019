"""FastAPI dependencies as Annotated aliases: the runtime, and the caller's verified Principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from chatfleet.chat.auth import AuthError
from chatfleet.chat.problems import NOT_READY, USER_RATE_LIMITED, ProblemError
from chatfleet.chat.request_rate import UserRateExceeded
from chatfleet.chat.retrieval import Principal
from chatfleet.chat.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    """Async although it never waits: FastAPI runs plain `def` dependencies in its thread pool, a thread
    hop per request (and a queue for the pool's 40 tokens at hundreds of concurrent streams)."""
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        raise ProblemError(NOT_READY, "the service is starting", retry_after_s=1)
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_principal(request: Request, runtime: RuntimeDep) -> Principal:
    """Who is calling, from the verified token only (or the dev header in auth mode none); the
    authenticator also enforces the tenant allow-list and required scopes/roles (403). Then the caller's
    per-user request rate (429)."""
    try:
        principal = await runtime.authenticator.authenticate(request.headers)
    except AuthError as exc:
        retry = 5.0 if exc.status == 503 else None  # signing keys unavailable: a short retry helps
        raise ProblemError(exc.problem, str(exc), headers=exc.headers, retry_after_s=retry) from exc
    request.state.tenant = principal.tenant
    try:
        runtime.user_rate.check(principal.tenant, principal.oid)
    except UserRateExceeded as exc:
        raise ProblemError(
            USER_RATE_LIMITED,
            str(exc),
            retry_after_s=exc.retry_after_s,
            extensions={"limit": "user_requests_per_minute", "max": exc.limit},
        ) from exc
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
