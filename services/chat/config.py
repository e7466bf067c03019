"""Every setting of the chat service, read from `CHATFLEET_*` environment variables.

One pydantic-settings model so the operator's ConfigMap, the Helm values and docs/chat-service.md all name
the same fields; validators refuse unsafe combinations at start-up rather than at the first request.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from chatfleet.chat.llm.config import DeploymentConfig, check_pool
from chatfleet.contracts.endpoints import IDENTITY, SIGN_IN, UPSTREAM
from chatfleet.contracts.links import LINK_HOST_MESSAGE, LINK_HOST_PATTERN

# The same policies as the ChatApplication CRD (chatfleet.contracts.endpoints).
ENDPOINT_RULES = {
    "auth_issuer": IDENTITY,
    "auth_jwks_uri": IDENTITY,
    "auth_authority": SIGN_IN,
    "search_endpoint": UPSTREAM,
    "content_safety_endpoint": UPSTREAM,
}


def _split_list(value: Any) -> Any:
    """Accepts a JSON array or a comma-separated string, because both are natural in a ConfigMap."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [item.strip() for item in text.split(",") if item.strip()]
    return value


StrList = Annotated[list[str], NoDecode]
LINK_HOST = re.compile(LINK_HOST_PATTERN)

# RFC 6749 scope-token: printable ASCII without space, `"` and backslash (it is quoted in WWW-Authenticate).
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]{1,256}$")


class Settings(BaseSettings):
    """All chat service settings; field `x` is read from `CHATFLEET_X`."""

    model_config = SettingsConfigDict(env_prefix="CHATFLEET_", extra="ignore", validate_default=True)

    # --- modes ---------------------------------------------------------------------------------------
    dev_mode: bool = Field(False, description="Local development conveniences; required for auth_mode=none.")
    service_name: str = Field("chatfleet-chat", description="Service name in traces and logs.")

    # --- identity ------------------------------------------------------------------------------------
    auth_mode: Literal["entra", "none"] = Field(
        "entra",
        description="`entra`: validate bearer tokens. `none`: tenant from X-Chatfleet-Tenant (dev only).",
    )
    auth_issuer: str | None = Field(
        None, description="Expected `iss` claim, e.g. https://login.microsoftonline.com/<tid>/v2.0."
    )
    auth_audience: str | None = Field(None, description="Expected `aud` claim, e.g. api://support-bot.")
    auth_jwks_uri: str | None = Field(
        None, description="JWKS URL of the issuer (https; http only for loopback)."
    )
    auth_tenant_claim: str = Field("tid", description="Claim that names the caller's tenant.")
    auth_algorithms: StrList = Field(["RS256"], description="Accepted JWT signature algorithms (fixed list).")
    auth_leeway_s: float = Field(60.0, ge=0, le=300, description="Clock skew tolerated on exp/nbf/iat.")
    auth_jwks_min_refresh_s: float = Field(
        30.0, ge=1, description="Minimum interval between JWKS refetches (unknown kid / key rotation)."
    )
    auth_client_id: str | None = Field(None, description="Entra app (SPA) client id the UI signs in with.")
    auth_authority: str | None = Field(
        None,
        description="Authority the UI signs in at (https), e.g. https://login.microsoftonline.com/<tid>; "
        "another OpenID Connect provider's issuer URL works too (MSAL.js OIDC mode).",
    )
    auth_scopes: StrList = Field([], description="Scopes the UI requests, e.g. api://support-bot/chat.")
    auth_renewal_offset_s: int = Field(
        300,
        ge=0,
        le=3600,
        description="The UI renews its access token this many seconds before it expires (MSAL.js "
        "tokenRenewalOffsetSeconds).",
    )
    auth_required_scopes: StrList = Field(
        [],
        description="Tokens must carry one of these scopes in `scp` (delegated sign-in), else 403 "
        "insufficient_scope; empty: no scope check. Names as they appear in `scp`, e.g. `Chat.Use`.",
    )
    auth_required_roles: StrList = Field(
        [],
        description="Tokens must carry one of these app roles in `roles`, else 403; empty: no role check.",
    )
    tenants: StrList = Field(
        [], description="Allow-list of tenants (others get 403); also the tenant label values of metrics."
    )
    user_requests_per_minute: int = Field(
        0,
        ge=0,
        le=100_000,
        description="Chat requests per minute per user (token `tid`+`oid`; dev mode: per tenant header) "
        "and replica; over it -> 429 with Retry-After. 0 = off.",
    )

    # --- LLM router ----------------------------------------------------------------------------------
    openai_deployments: list[DeploymentConfig] = Field(
        [],
        description="JSON list of Azure OpenAI deployments (name, endpoint, deployment, priority, weight).",
    )
    openai_request_timeout_s: float = Field(30.0, gt=0, description="Timeout of one upstream attempt.")
    openai_deadline_s: float = Field(
        60.0, gt=0, description="Deadline of a whole chat turn including failover."
    )
    max_output_tokens: int = Field(1024, ge=16, le=32768, description="max_tokens of the answer call.")
    default_temperature: float = Field(0.3, ge=0, le=2, description="Answer temperature unless overridden.")

    # --- retrieval -----------------------------------------------------------------------------------
    search_backend: Literal["local", "azure"] = Field(
        "local", description="Local SQLite index or Azure AI Search."
    )
    index_path: Path | None = Field(None, description="Local index file (search_backend=local).")
    search_endpoint: str | None = Field(None, description="Azure AI Search endpoint (https).")
    search_index: str | None = Field(None, description="Azure AI Search index name.")
    search_api_key: SecretStr | None = Field(
        None, description="Azure AI Search key fallback (default: azure-identity)."
    )
    embedder: Literal["wordllama", "minilm"] = Field(
        "wordllama", description="Offline embedding model of the local index (the one it was built with)."
    )
    search_query_vectors: Literal["local", "index"] = Field(
        "local", description="Azure AI Search query vectors: embedded locally, or by the index's vectorizer."
    )
    search_semantic_configuration: str = Field(
        "default", description="Azure AI Search semantic configuration name."
    )
    search_index_version: str = Field(
        "",
        max_length=128,
        description="Label of the Azure AI Search index's content, part of the semantic cache's index "
        "version (the service cannot see a remote re-ingestion): change it after re-ingesting. The local "
        "index needs none (its write generation is read from the file).",
    )
    default_top: int = Field(5, ge=1, le=50, description="Sources retrieved per turn unless overridden.")
    max_top: int = Field(10, ge=1, le=50, description="Largest `top` override a caller may ask for.")
    default_retrieval_mode: Literal["hybrid", "text", "vectors"] = Field(
        "hybrid", description="Default retrieval mode."
    )
    default_semantic_ranker: bool = Field(
        False, description="Use the Azure semantic ranker unless overridden."
    )
    default_minimum_search_score: float = Field(0.0, ge=0, description="Hits scoring below are dropped.")
    minimum_relevance: float = Field(
        0.0,
        ge=0,
        le=1,
        description="When the best source is less relevant than this (cosine similarity of question and "
        "source, or the semantic ranker's score / 4), the no-answer template answers without a model "
        "call. 0 = off. Unlike the search score it does not depend on the retrieval mode.",
    )
    query_rewrite: Literal["auto", "always", "never"] = Field(
        "auto",
        description="`auto`: rewrite multi-turn conversations only; a single question is already standalone.",
    )

    # --- prompts -------------------------------------------------------------------------------------
    prompts_dir: Path | None = Field(
        None, description="Folder of prompt templates (a mounted ConfigMap) overlaying the defaults."
    )
    prompt_versions: dict[str, str] = Field(
        {}, description='Pinned versions, JSON: {"answer": "2"}; default newest.'
    )

    # --- guards and budgets --------------------------------------------------------------------------
    guards_mode: Literal["local", "prompt_shields", "off"] = Field(
        "local",
        description="Prompt-injection screening: local detector, Azure Prompt Shields, or off (dev only).",
    )
    guards_overlap: bool = Field(
        True,
        description="Screen a single question and the retrieved sources while the model works toward its "
        "first token; nothing of the answer is released before the verdict, and a refusal abandons the "
        "call (the model has no tools, so an unscreened prompt costs tokens, nothing else). `false`: "
        "screen before anything reaches the model, one screen more of latency.",
    )
    guards_budget_ms: float = Field(
        100.0,
        gt=0,
        description="CPU budget for screening a request's earlier conversation turns not screened before "
        "(each turn once per replica); past it the request is refused (413 input-too-large), fail closed.",
    )
    content_safety_endpoint: str | None = Field(
        None, description="Azure AI Content Safety endpoint for Prompt Shields."
    )
    content_safety_key: SecretStr | None = Field(
        None, description="Content Safety key fallback (default: azure-identity)."
    )
    tenant_tokens_per_minute: int = Field(
        200_000, ge=0, description="Per-tenant token budget per minute (0 = unlimited); over budget -> 429."
    )
    tenant_token_overrides: dict[str, Annotated[int, Field(ge=0)]] = Field(
        {},
        description='Budgets of named tenants instead of tenant_tokens_per_minute, JSON: {"contoso": 500000} '
        "(0 = unlimited for that tenant).",
    )

    budget_store: Literal["memory", "postgres"] = Field(
        "memory",
        description="Where the tenant token buckets live: `memory` (each replica its own: N replicas give "
        "a tenant N budgets, a restart refills) or `postgres` (one bucket per tenant shared by every "
        "replica, kept over restarts; the CHATFLEET_POSTGRES_* settings).",
    )
    budget_store_timeout_ms: float = Field(
        250.0,
        gt=0,
        le=5000,
        description="Longest wait on the shared budget store per reservation or settlement; past it the "
        "budget fails as CHATFLEET_BUDGET_STORE_FAILURE says.",
    )
    budget_store_failure: Literal["open", "closed"] = Field(
        "open",
        description="The shared budget store down or slow: `open` checks the turn against this replica's "
        "own in-memory bucket (degrades to per-replica budgets), `closed` refuses it (503 "
        "budget-unavailable).",
    )

    # --- conversation history ----------------------------------------------------------------------
    history_enabled: bool = Field(
        True, description="Keep each finished turn server-side per tenant and user (the UI's sidebar)."
    )
    history_store: Literal["sqlite", "postgres"] = Field(
        "sqlite",
        description="Where history lives: `sqlite` (one file, a single replica) or `postgres` (shared by "
        "replicas; the CHATFLEET_POSTGRES_* settings).",
    )
    history_path: Path | None = Field(
        None,
        description="SQLite file of the history (default: history.sqlite in the user's data directory, "
        "e.g. ~/.local/share/chatfleet).",
    )
    history_retention_days: float = Field(
        30.0, gt=0, le=3650, description="Sessions idle longer than this are deleted by a periodic purge."
    )
    history_purge_interval_s: float = Field(
        3600.0, ge=1, description="How often the retention purge runs (also once at start-up)."
    )
    history_queue_size: int = Field(
        1000, ge=1, description="Finished turns waiting to be written; when full, a turn goes unrecorded."
    )
    # --- PostgreSQL (history and budgets shared by replicas) ------------------------------------------
    postgres_host: str | None = Field(
        None, description="PostgreSQL server, e.g. myserver.postgres.database.azure.com."
    )
    postgres_port: int = Field(5432, ge=1, le=65535, description="PostgreSQL port.")
    postgres_database: str | None = Field(None, description="Database of the app's tables.")
    postgres_user: str | None = Field(
        None,
        description="Role to connect as; with `entra` auth, the name of the Entra identity's role "
        "(e.g. the managed identity's name).",
    )
    postgres_auth: Literal["entra", "password"] = Field(
        "entra",
        description="`entra`: a Microsoft Entra access token from azure-identity (workload identity in "
        "AKS), refreshed before expiry, as the password. `password`: CHATFLEET_POSTGRES_PASSWORD, or "
        "libpq's own PGPASSWORD / ~/.pgpass when unset (local use).",
    )
    postgres_password: SecretStr | None = Field(
        None, description="Password with postgres_auth=password (a Secret in Kubernetes)."
    )
    postgres_sslmode: Literal["disable", "prefer", "require", "verify-ca", "verify-full"] = Field(
        "require", description="libpq sslmode; Azure requires TLS. `disable` only for a local server."
    )
    postgres_pool_size: int = Field(
        10,
        ge=1,
        le=100,
        description="Most connections per pool (history, budgets and the semantic cache have one each).",
    )
    postgres_connect_timeout_s: float = Field(
        10.0, gt=0, le=120, description="Connecting, and waiting for a free pooled connection."
    )
    # --- semantic cache (docs/chat-service.md#semantic-cache) --------------------------------------
    semantic_cache_enabled: bool = Field(
        False,
        description="Reuse the answer of a close enough earlier standalone question of the same tenant, "
        "prompt versions, index version and answer options, if the caller may read all its sources.",
    )
    semantic_cache_threshold: float = Field(
        0.95,
        gt=0,
        le=1,
        description="Least cosine similarity of the two questions' embeddings (the retrieval embedder's) "
        "for a reuse; 1 = only the same wording (up to what the embedder ignores).",
    )
    semantic_cache_ttl_s: float = Field(
        3600.0,
        gt=0,
        le=30 * 86400,
        description="An answer is reused for at most this long after it was kept.",
    )
    semantic_cache_max_entries: int = Field(
        10_000,
        ge=1,
        le=1_000_000,
        description="Answers kept per replica by the `memory` store; past it the oldest go first.",
    )
    semantic_cache_store: Literal["memory", "postgres"] = Field(
        "memory",
        description="Where cached answers live: `memory` (each replica its own) or `postgres` (one cache "
        "shared by every replica; the CHATFLEET_POSTGRES_* settings).",
    )
    semantic_cache_max_scope_entries: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="Answers the `postgres` store keeps per scope (tenant, prompt versions, index version, "
        "options); past it the oldest go first. Also bounds what one lookup reads and ranks.",
    )
    semantic_cache_store_timeout_ms: float = Field(
        100.0,
        gt=0,
        le=5000,
        description="Longest wait on the `postgres` cache store per lookup or write; past it the turn is "
        "answered afresh (a lookup) or the answer is not kept (a write).",
    )
    # --- quality in production (docs/evaluation.md) ------------------------------------------------
    quality_sample_rate: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Share of answers scored for groundedness in the background "
        "(`chatfleet_answer_groundedness`); 0 = off (no embedder loaded for it).",
    )
    quality_queue_size: int = Field(
        100, ge=1, description="Sampled answers waiting to be scored; when full, one is dropped and counted."
    )
    feedback_comment_chars: int = Field(
        2000, ge=0, le=20000, description="Longest feedback comment accepted (longer: 422); 0 = no comments."
    )
    feedback_recent_turns: int = Field(
        10000,
        ge=1,
        description="Recent turns kept in memory so feedback can be tied to them when history is off.",
    )
    # --- answers (output handling, docs/security.md) -------------------------------------------------
    output_link_hosts: StrList = Field(
        [],
        description="Hosts answers may link to (`docs.contoso.com`, or `*.contoso.com` for its subdomains); "
        "every other absolute link, and any non-http(s) link, becomes `(link removed)`. Default none: only "
        "relative links (the app's own pages). Raw HTML is always removed.",
    )
    uncited_answer: Literal["flag", "replace", "annotate"] = Field(
        "annotate",
        description="A model answer citing no retrieved source: `flag` (closing line and metric only), "
        "`annotate` (also a note appended to the answer), `replace` (the no-sources answer instead; the "
        "answer is held until its first valid citation).",
    )

    # --- input limits --------------------------------------------------------------------------------
    max_messages: int = Field(40, ge=1, le=1000, description="Messages per request.")
    max_message_chars: int = Field(8000, ge=1, description="Characters per message.")
    max_total_chars: int = Field(32000, ge=1, description="Characters over all messages.")
    max_body_bytes: int = Field(262_144, ge=1024, description="Request body size; larger -> 413.")
    max_session_state_bytes: int = Field(4096, ge=0, description="Serialized session_state size.")

    # --- telemetry and logs --------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    log_content: bool = Field(False, description="Log prompts and answers (PII!); off by default.")
    otel_exporters: Annotated[list[Literal["otlp", "azure_monitor"]], NoDecode] = Field(
        [],
        description="Where traces go: `otlp`, `azure_monitor` or both (`otlp,azure_monitor`), one tracer "
        "provider; empty or `none`: no SDK. `OTEL_TRACES_EXPORTER=otlp` adds OTLP, `OTEL_SDK_DISABLED=true` "
        "turns all off; the SDK's other `OTEL_*` variables apply as documented (docs/chat-service.md).",
    )
    otel_endpoint: str | None = Field(
        None,
        description="OTLP endpoint, e.g. http://otel-collector:4317; unset: the SDK's "
        "OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT.",
    )
    applicationinsights_connection_string: SecretStr | None = Field(
        None,
        description="Application Insights connection string (otel_exporters has azure_monitor); the "
        "standard APPLICATIONINSIGHTS_CONNECTION_STRING is read too.",
    )
    ttft_window_s: float = Field(
        60.0, gt=0, description="Window of the rolling TTFT p95 gauge (HPA SLO guard)."
    )
    # Exported as gauges so dashboards draw each app's own lines (the operator renders them from the spec).
    slo_ttft_p95_ms: float = Field(0, ge=0, description="The app's TTFT p95 SLO, for dashboards (0: none).")
    hpa_ttft_p95_target_ms: float = Field(
        0, ge=0, description="The TTFT p95 the app's HPA scales out at, for dashboards (0: none)."
    )

    # --- connections ---------------------------------------------------------------------------------
    metrics_port: int = Field(
        9464,
        ge=0,
        le=65535,
        description="Port of the Prometheus `/metrics` listener, separate from the user port (which "
        "answers /metrics with 404) so metrics are never exposed where users connect. 0: any free port.",
    )
    header_timeout_s: float = Field(
        15.0,
        gt=0,
        le=300,
        description="A request's headers must arrive within this long of the connection opening (or of "
        "its first byte on a reused connection); otherwise the connection is closed (slowloris).",
    )
    body_timeout_s: float = Field(
        30.0,
        gt=0,
        le=600,
        description="A request's body must arrive within this long after its headers; otherwise the "
        "connection is closed. Streaming answers are not limited by it.",
    )
    keep_alive_s: float = Field(
        75.0,
        gt=0,
        le=3600,
        description="An idle keep-alive connection is closed after this long; longer than the 60 s "
        "upstream keep-alive of common ingress proxies, so the proxy closes first.",
    )
    max_header_bytes: int = Field(
        65_536, ge=4096, le=1_048_576, description="Size of a request's header block; larger -> 431."
    )
    max_connections: int = Field(
        1024,
        ge=1,
        description="Open connections (and requests) per replica; a request over the cap gets 503 "
        "(uvicorn's limit_concurrency).",
    )

    # --- lifecycle -----------------------------------------------------------------------------------
    shutdown_grace_s: float = Field(
        30.0, ge=0, description="Open streams may finish this long after SIGTERM."
    )
    drain_delay_s: float = Field(
        0.0,
        ge=0,
        description="After SIGTERM, keep serving with readiness false this long before closing the listener.",
    )

    @field_validator(
        "auth_algorithms",
        "auth_scopes",
        "auth_required_scopes",
        "auth_required_roles",
        "tenants",
        "output_link_hosts",
        mode="before",
    )
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("output_link_hosts")
    @classmethod
    def _link_hosts(cls, value: list[str]) -> list[str]:
        bad = [host for host in value if not LINK_HOST.match(host)]
        if bad:
            raise ValueError(f"CHATFLEET_OUTPUT_LINK_HOSTS: each entry {LINK_HOST_MESSAGE}; not {bad}")
        return value

    @field_validator("auth_required_scopes", "auth_required_roles")
    @classmethod
    def _scope_tokens(cls, value: list[str]) -> list[str]:
        bad = [item for item in value if not _SCOPE_TOKEN.match(item)]
        if bad:
            raise ValueError(f"scope and role names must be printable ASCII without spaces or quotes: {bad}")
        return value

    @field_validator("applicationinsights_connection_string", mode="before")
    @classmethod
    def _standard_connection_string(cls, value: Any) -> Any:
        """The name Azure's SDKs and docs use, when the prefixed one is unset (validate_default runs this)."""
        return value if value is not None else os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING")

    @field_validator("otel_exporters", mode="before")
    @classmethod
    def _exporters(cls, value: Any) -> Any:
        return [e for e in _split_list(value) if e != "none"]

    @field_validator("auth_algorithms")
    @classmethod
    def _algorithms(cls, value: list[str]) -> list[str]:
        allowed = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
        bad = [alg for alg in value if alg not in allowed]
        if bad or not value:
            raise ValueError(
                f"CHATFLEET_AUTH_ALGORITHMS must be asymmetric algorithms from {sorted(allowed)}, "
                f"got {bad or value}"
            )
        return value

    def _require_postgres(self, user: str) -> None:
        missing = [n for n in ("postgres_host", "postgres_database", "postgres_user") if not getattr(self, n)]
        if missing:
            raise ValueError(f"{user} needs " + ", ".join(f"CHATFLEET_{n.upper()}" for n in missing))

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        if self.auth_mode == "none" and not self.dev_mode:
            raise ValueError("CHATFLEET_AUTH_MODE=none is only allowed with CHATFLEET_DEV_MODE=true")
        if self.auth_mode == "none" and (self.auth_required_scopes or self.auth_required_roles):
            raise ValueError(
                "CHATFLEET_AUTH_REQUIRED_SCOPES/ROLES need CHATFLEET_AUTH_MODE=entra (no tokens in mode none)"
            )
        if self.auth_mode == "entra":
            missing = [n for n in ("auth_issuer", "auth_audience") if not getattr(self, n)]
            if missing:
                names = ", ".join(f"CHATFLEET_{n.upper()}" for n in missing)
                raise ValueError(f"CHATFLEET_AUTH_MODE=entra needs {names}")
        for name, rule in ENDPOINT_RULES.items():
            url = getattr(self, name)
            if url is not None:
                rule.require(url, f"CHATFLEET_{name.upper()}")
        if self.guards_mode == "off" and not self.dev_mode:
            raise ValueError("CHATFLEET_GUARDS_MODE=off is only allowed with CHATFLEET_DEV_MODE=true")
        if self.guards_mode == "prompt_shields" and not self.content_safety_endpoint:
            raise ValueError("CHATFLEET_GUARDS_MODE=prompt_shields needs CHATFLEET_CONTENT_SAFETY_ENDPOINT")
        if self.search_backend == "azure" and not (self.search_endpoint and self.search_index):
            raise ValueError(
                "CHATFLEET_SEARCH_BACKEND=azure needs CHATFLEET_SEARCH_ENDPOINT and CHATFLEET_SEARCH_INDEX"
            )
        otlp_env = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        if "otlp" in self.otel_exporters and not (self.otel_endpoint or any(map(os.environ.get, otlp_env))):
            raise ValueError(
                "CHATFLEET_OTEL_EXPORTERS=otlp needs CHATFLEET_OTEL_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT"
            )
        if "azure_monitor" in self.otel_exporters and not self.applicationinsights_connection_string:
            raise ValueError(
                "CHATFLEET_OTEL_EXPORTERS=azure_monitor needs APPLICATIONINSIGHTS_CONNECTION_STRING "
                "(or CHATFLEET_APPLICATIONINSIGHTS_CONNECTION_STRING)"
            )
        if self.history_enabled and self.history_store == "postgres":
            self._require_postgres("CHATFLEET_HISTORY_STORE=postgres")
        if self.budget_store == "postgres":
            self._require_postgres("CHATFLEET_BUDGET_STORE=postgres")
        if self.semantic_cache_enabled and self.semantic_cache_store == "postgres":
            self._require_postgres("CHATFLEET_SEMANTIC_CACHE_STORE=postgres")
        if self.postgres_auth == "entra" and self.postgres_password is not None:
            raise ValueError(
                "CHATFLEET_POSTGRES_PASSWORD is set but CHATFLEET_POSTGRES_AUTH=entra: set "
                "CHATFLEET_POSTGRES_AUTH=password to use it, or unset it"
            )
        if self.openai_deployments:
            check_pool(self.openai_deployments)
        if self.default_top > self.max_top:
            raise ValueError("CHATFLEET_DEFAULT_TOP must not exceed CHATFLEET_MAX_TOP")
        if self.max_message_chars > self.max_total_chars:
            raise ValueError("CHATFLEET_MAX_MESSAGE_CHARS must not exceed CHATFLEET_MAX_TOTAL_CHARS")
        return self
