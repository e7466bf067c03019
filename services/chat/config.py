"""Every setting of the chat service, read from `CHATFLEET_*` environment variables.

One pydantic-settings model so the operator's ConfigMap, the Helm values and docs/chat-service.md all name
the same fields; validators refuse unsafe combinations at start-up rather than at the first request.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from chatfleet.chat.llm.config import DeploymentConfig, check_pool
from chatfleet.contracts.endpoints import IDENTITY, UPSTREAM

# The same policies as the ChatApplication CRD (chatfleet.contracts.endpoints).
ENDPOINT_RULES = {
    "auth_issuer": IDENTITY,
    "auth_jwks_uri": IDENTITY,
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
    auth_authority: str | None = Field(None, description="Entra authority the UI redirects to for sign-in.")
    auth_scopes: StrList = Field([], description="Scopes the UI requests, e.g. api://support-bot/chat.")
    tenants: StrList = Field(
        [], description="Allow-list of tenants (others get 403); also the tenant label values of metrics."
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

    # --- lifecycle -----------------------------------------------------------------------------------
    shutdown_grace_s: float = Field(
        30.0, ge=0, description="Open streams may finish this long after SIGTERM."
    )
    drain_delay_s: float = Field(
        0.0,
        ge=0,
        description="After SIGTERM, keep serving with readiness false this long before closing the listener.",
    )

    @field_validator("auth_algorithms", "auth_scopes", "tenants", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)

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

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        if self.auth_mode == "none" and not self.dev_mode:
            raise ValueError("CHATFLEET_AUTH_MODE=none is only allowed with CHATFLEET_DEV_MODE=true")
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
        if self.openai_deployments:
            check_pool(self.openai_deployments)
        if self.default_top > self.max_top:
            raise ValueError("CHATFLEET_DEFAULT_TOP must not exceed CHATFLEET_MAX_TOP")
        if self.max_message_chars > self.max_total_chars:
            raise ValueError("CHATFLEET_MAX_MESSAGE_CHARS must not exceed CHATFLEET_MAX_TOTAL_CHARS")
        return self
