"""The live objects of one service process, built by the app's lifespan and shared by all requests."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from chatfleet.chat.auth import Authenticator
from chatfleet.chat.chain.orchestrator import ChatChain
from chatfleet.chat.config import Settings
from chatfleet.chat.feedback import RecentTurns
from chatfleet.chat.history import HistoryRecorder
from chatfleet.chat.llm import LLMRouter
from chatfleet.chat.prompts.library import PromptLibrary
from chatfleet.chat.quality import QualitySampler
from chatfleet.chat.request_rate import UserRateLimit
from chatfleet.chat.retrieval import Retriever
from chatfleet.chat.telemetry.metrics import ServiceMetrics


async def _ready(component: Any) -> bool:
    result = component.ready()
    if inspect.isawaitable(result):
        result = await result
    return bool(result)


@dataclass
class Runtime:
    settings: Settings
    metrics: ServiceMetrics
    prompts: PromptLibrary
    router: LLMRouter
    retriever: Retriever
    authenticator: Authenticator
    chain: ChatChain
    history: HistoryRecorder | None = None
    quality: QualitySampler | None = None
    recent_turns: RecentTurns = field(default_factory=lambda: RecentTurns(10000))
    user_rate: UserRateLimit = field(default_factory=lambda: UserRateLimit(0))
    draining: bool = False
    closers: list[Any] = field(default_factory=list)

    async def readiness(self) -> dict[str, bool]:
        """Each check by name; the service is ready when all are true."""
        return {
            "not_draining": not self.draining,
            "router": await _ready(self.router),
            "index": await _ready(self.retriever),
        }
