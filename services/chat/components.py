"""Builds the live objects of the service from settings: the only place that picks implementations.

Local and cloud differ only here (local index vs Azure AI Search, dev header vs Entra tokens, local
detector vs Prompt Shields); the chain and routes see the same interfaces either way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from azure.identity.aio import DefaultAzureCredential
from platformdirs import user_data_path

from chatfleet.chat.auth import Authenticator
from chatfleet.chat.budget import PostgresTenantBudget, TenantBudget, TokenBudget
from chatfleet.chat.chain.guarding import TurnGuards
from chatfleet.chat.chain.orchestrator import ChatChain
from chatfleet.chat.config import Settings
from chatfleet.chat.embeddings import load_embedder
from chatfleet.chat.feedback import RecentTurns
from chatfleet.chat.guards import build_screen
from chatfleet.chat.history import HistoryRecorder, HistoryStore, PostgresHistoryStore, SqliteHistoryStore
from chatfleet.chat.llm import LLMRouter
from chatfleet.chat.postgres import EntraPassword, PostgresConfig
from chatfleet.chat.prompts.library import PromptLibrary
from chatfleet.chat.quality import AnswerSample, QualitySampler
from chatfleet.chat.request_rate import UserRateLimit
from chatfleet.chat.retrieval import Retriever, build_retriever
from chatfleet.chat.runtime import Runtime
from chatfleet.chat.semcache import CacheStore, MemoryCacheStore, PostgresCacheStore, SemanticCache
from chatfleet.chat.telemetry.metrics import ServiceMetrics
from chatfleet.contracts.groundedness import Groundedness


async def build_runtime(settings: Settings) -> Runtime:
    """Fails (and so fails the pod's start-up) on bad prompts, a missing index or a bad deployment pool."""
    prompts = PromptLibrary.load(settings.prompts_dir, settings.prompt_versions)
    metrics = ServiceMetrics(
        settings.tenants,
        settings.ttft_window_s,
        slo_ttft_p95_s=settings.slo_ttft_p95_ms / 1000,
        hpa_ttft_p95_target_s=settings.hpa_ttft_p95_target_ms / 1000,
    )
    router = LLMRouter(
        settings.openai_deployments,
        request_timeout_s=settings.openai_request_timeout_s,
        deadline_s=settings.openai_deadline_s,
    )
    retriever: Retriever = build_retriever(settings)
    authenticator = Authenticator.from_settings(settings)
    closers: list[Callable[[], Awaitable[None]]] = []
    pg = postgres_config(settings, closers) if uses_postgres(settings) else None
    guards = TurnGuards(
        build_screen(settings),
        await build_budget(settings, metrics, pg),
        log_content=settings.log_content,
        screen_budget_ms=settings.guards_budget_ms,
    )
    cache = await build_cache(settings, retriever, pg) if settings.semantic_cache_enabled else None
    chain = ChatChain(
        settings=settings,
        router=router,
        retriever=retriever,
        prompts=prompts,
        guards=guards,
        metrics=metrics,
        cache=cache,
    )
    runtime = Runtime(settings, metrics, prompts, router, retriever, authenticator, chain)
    runtime.user_rate = UserRateLimit(settings.user_requests_per_minute)
    runtime.closers.extend([router.aclose])
    if cache is not None:
        runtime.closers.append(cache.aclose)
    runtime.recent_turns = RecentTurns(settings.feedback_recent_turns)
    if settings.history_enabled:
        runtime.history = await build_history(settings, metrics, pg)
        runtime.closers.append(runtime.history.aclose)
    if settings.quality_sample_rate > 0:
        runtime.quality = build_quality(settings, metrics)
        runtime.closers.append(runtime.quality.aclose)
    for component in (retriever, authenticator, guards):
        close = getattr(component, "aclose", None)
        if close is not None:
            runtime.closers.append(close)
    runtime.closers.extend(closers)  # the Entra credential, after the pools that use it
    return runtime


async def build_cache(settings: Settings, retriever: Retriever, pg: PostgresConfig | None) -> SemanticCache:
    """The semantic cache in this replica's memory or shared in PostgreSQL (opened and migrated now),
    comparing questions with the retrieval embedder (the same loaded instance: `load_embedder` keeps one
    per process)."""
    store: CacheStore
    if settings.semantic_cache_store == "postgres":
        assert pg is not None  # uses_postgres
        store = await PostgresCacheStore.open(
            pg,
            ttl_s=settings.semantic_cache_ttl_s,
            max_scope_entries=settings.semantic_cache_max_scope_entries,
            timeout_s=settings.semantic_cache_store_timeout_ms / 1000,
        )
    else:
        store = MemoryCacheStore(settings.semantic_cache_max_entries)
    return SemanticCache(
        store,
        load_embedder(settings.embedder),
        retriever,
        threshold=settings.semantic_cache_threshold,
        ttl_s=settings.semantic_cache_ttl_s,
    )


def history_path(settings: Settings) -> Path:
    """With no path configured, a file under the user's data directory, so a local service's conversations
    survive a restart (XDG_DATA_HOME is honoured)."""
    return settings.history_path or user_data_path("chatfleet") / "history.sqlite"


def postgres_config(settings: Settings, closers: list[Callable[[], Awaitable[None]]]) -> PostgresConfig:
    """Where the PostgreSQL stores connect; under Entra auth one azure-identity credential (workload identity
    in AKS, via DefaultAzureCredential) fetches the tokens, closed with the service."""
    if not (settings.postgres_host and settings.postgres_database and settings.postgres_user):
        raise ValueError("PostgreSQL needs CHATFLEET_POSTGRES_HOST, _DATABASE and _USER")  # as Settings says
    entra = None
    if settings.postgres_auth == "entra":
        credential = DefaultAzureCredential()
        closers.append(credential.close)
        entra = EntraPassword(credential)
    password = settings.postgres_password
    return PostgresConfig(
        host=settings.postgres_host,
        port=settings.postgres_port,
        database=settings.postgres_database,
        user=settings.postgres_user,
        sslmode=settings.postgres_sslmode,
        password=password.get_secret_value() if password is not None else None,
        entra=entra,
        pool_max=settings.postgres_pool_size,
        connect_timeout_s=settings.postgres_connect_timeout_s,
    )


def uses_postgres(settings: Settings) -> bool:
    return (
        settings.budget_store == "postgres"
        or (settings.history_enabled and settings.history_store == "postgres")
        or (settings.semantic_cache_enabled and settings.semantic_cache_store == "postgres")
    )


async def build_budget(settings: Settings, metrics: ServiceMetrics, pg: PostgresConfig | None) -> TokenBudget:
    """The replica's own buckets, or the shared ones in PostgreSQL (the own ones as fail-open fallback)."""
    local = TenantBudget(settings.tenant_tokens_per_minute, settings.tenant_token_overrides)
    if settings.budget_store != "postgres":
        return local
    assert pg is not None  # uses_postgres
    errors = metrics.budget_store_errors_total
    return await PostgresTenantBudget.open(
        pg,
        local,
        timeout_s=settings.budget_store_timeout_ms / 1000,
        failure=settings.budget_store_failure,
        on_store_error=lambda operation: errors.labels(operation).inc(),
    )


async def build_history(
    settings: Settings, metrics: ServiceMetrics, pg: PostgresConfig | None
) -> HistoryRecorder:
    """Opens (and migrates) the store before the first request, and starts the writer and the purge."""
    store: HistoryStore
    if settings.history_store == "postgres":
        assert pg is not None  # uses_postgres
        store = await PostgresHistoryStore.open(pg)
    else:
        store = await SqliteHistoryStore.open(history_path(settings))
    recorder = HistoryRecorder(
        store,
        queue_size=settings.history_queue_size,
        retention_s=settings.history_retention_days * 86400,
        purge_interval_s=settings.history_purge_interval_s,
        on_drop=metrics.history_dropped_total.inc,
    )
    recorder.start()
    return recorder


def build_quality(settings: Settings, metrics: ServiceMetrics) -> QualitySampler:
    """Loads the local embedder of the eval's groundedness rule (the index's model: same numbers as
    `chatfleet eval --embedder`) and starts the scorer."""

    def observe(sample: AnswerSample, score: float) -> None:
        metrics.answer_groundedness.labels(sample.prompt_version, sample.deployment).observe(score)

    sampler = QualitySampler(
        Groundedness(load_embedder(settings.embedder)),
        rate=settings.quality_sample_rate,
        queue_size=settings.quality_queue_size,
        observe=observe,
        on_drop=metrics.quality_samples_dropped_total.inc,
    )
    sampler.start()
    return sampler
