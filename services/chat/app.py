"""`create_app`: the FastAPI chat service, with a lifespan that builds and closes its live objects.

Same code path locally and in AKS; only the settings decide which router pool, retriever, authenticator,
guards and trace exporter are built (see `components`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from chatfleet import __version__
from chatfleet.chat.api.gate import ServiceGate
from chatfleet.chat.api.problems import install_problem_handlers
from chatfleet.chat.api.routes import chat, config, feedback, history, openai_compat, ops, ui
from chatfleet.chat.components import build_runtime
from chatfleet.chat.config import Settings
from chatfleet.chat.telemetry.tracing import Tracing

log = logging.getLogger("chatfleet.chat")

ROUTES = frozenset(
    {
        "/",
        "/chat",
        "/chat/stream",
        "/chat/feedback",
        "/chat_history/sessions",
        "/v1/chat/completions",
        "/v1/models",
        "/config",
        "/healthz",
        "/readyz",
    }
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Settings are validated here (before the server binds) so bad configuration fails fast."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tracing = Tracing.configure(settings)
        runtime = await build_runtime(settings)
        app.state.runtime = runtime
        log.info(
            "chat service ready: auth=%s search=%s prompts=%s",
            settings.auth_mode,
            settings.search_backend,
            runtime.prompts.versions(),
        )
        try:
            yield
        finally:
            runtime.draining = True
            app.state.runtime = None
            for close in reversed(runtime.closers):
                try:
                    await close()
                except Exception:
                    log.exception("error while closing %s", close)
            tracing.shutdown()

    app = FastAPI(
        title="chatfleet chat service",
        version=__version__,
        summary="Multi-tenant retrieval-augmented chat: Microsoft AI Chat Protocol + OpenAI-compatible API.",
        lifespan=lifespan,
    )
    app.state.runtime = None
    app.state.settings = settings
    install_problem_handlers(app)
    for module in (chat, feedback, history, openai_compat, config, ops, ui):
        app.include_router(module.router)
    app.add_middleware(ServiceGate, routes=ROUTES, runtime_of=lambda scope: scope["app"].state.runtime)
    return app
