"""Probes: GET /healthz (process alive), GET /readyz (can serve). /metrics is on its own port
(chatfleet.chat.telemetry.exposition), never on the port users reach."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness only: no dependency checks, so a slow upstream never gets the pod restarted."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """503 while starting, draining, or when the index or every model deployment is unavailable."""
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is None:
        return JSONResponse({"ready": False, "checks": {"started": False}}, status_code=503)
    checks = await runtime.readiness()
    ready = all(checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)
