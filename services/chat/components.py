"""Builds the live objects of the service from settings: the only place that picks implementations.

Local and cloud differ only here (local index vs Azure AI Search, dev header vs Entra tokens, local
detector vs Prompt Shields); the chain and routes see the same interfaces either way.
"""

from __future__ import annotations

from chatfleet.chat.auth import Authenticator
from chatfleet.chat.budget import TenantBudget
from chatfleet.chat.chain.guarding import TurnGuards
from chatfleet.chat.chain.orchestrator import ChatChain
from chatfleet.chat.config import Settings
from chatfleet.chat.guards import build_screen
from chatfleet.chat.llm import LLMRouter
from chatfleet.chat.prompts.library import PromptLibrary
from chatfleet.chat.retrieval import Retriever, build_retriever
from chatfleet.chat.runtime import Runtime
from chatfleet.chat.telemetry.metrics import ServiceMetrics


async def build_runtime(settings: Settings) -> Runtime:
    """Fails (and so fails the pod's start-up) on bad prompts, a missing index or a bad deployment pool."""
    prompts = PromptLibrary.load(settings.prompts_dir, settings.prompt_versions)
    metrics = ServiceMetrics(settings.tenants, settings.ttft_window_s)
    router = LLMRouter(
        settings.openai_deployments,
        request_timeout_s=settings.openai_request_timeout_s,
        deadline_s=settings.openai_deadline_s,
    )
    retriever: Retriever = build_retriever(settings)
    authenticator = Authenticator.from_settings(settings)
    guards = TurnGuards(
        build_screen(settings),
        TenantBudget(settings.tenant_tokens_per_minute, settings.tenant_token_overrides),
        log_content=settings.log_content,
    )
    chain = ChatChain(
        settings=settings, router=router, retriever=retriever, prompts=prompts, guards=guards, metrics=metrics
    )
    runtime = Runtime(settings, metrics, prompts, router, retriever, authenticator, chain)
    runtime.closers.extend([router.aclose])
    for component in (retriever, authenticator, guards):
        close = getattr(component, "aclose", None)
        if close is not None:
            runtime.closers.append(close)
    return runtime
