"""GET /config: what the UI needs before sign-in (auth settings, features, limits). Nothing secret.

Anonymous, so it says nothing about who is served: the tenant allow-list appears only in dev mode (auth
off, loopback), where the UI offers it as the tenant picker and any caller may name any tenant anyway.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from chatfleet.chat.api.deps import RuntimeDep
from chatfleet.chat.auth import sign_in
from chatfleet.contracts.tenancy import DEV_TENANT_HEADER

router = APIRouter(tags=["config"])


@router.get("/config")
async def get_config(runtime: RuntimeDep) -> dict[str, Any]:
    s = runtime.settings
    auth: dict[str, Any] = {
        "mode": s.auth_mode,
        "enabled": s.auth_mode == "entra",
        "client_id": s.auth_client_id,
        "authority": s.auth_authority,
        "scopes": s.auth_scopes,
        # MSAL.js's protocol mode for this authority and when it renews a token (see auth/sign_in.py).
        "protocol": sign_in.protocol(s.auth_authority) if s.auth_authority else None,
        "renewal_offset_s": s.auth_renewal_offset_s,
        "tenant_header": DEV_TENANT_HEADER if s.auth_mode == "none" else None,
    }
    if s.auth_mode == "none":
        auth["tenants"] = s.tenants
    return {
        "streaming": True,
        "auth": auth,
        "features": {
            "followup_questions": True,
            "retrieval_modes": ["hybrid", "text", "vectors"],
            "semantic_ranker": s.search_backend == "azure",
            "query_rewrite": s.query_rewrite,
            "history": runtime.history is not None,
            "semantic_cache": runtime.chain.cache is not None,
            "guards": s.guards_mode,
            "embedder": s.embedder,
            "content_logging": s.log_content,
        },
        "defaults": {
            "top": s.default_top,
            "retrieval_mode": s.default_retrieval_mode,
            "temperature": s.default_temperature,
            "minimum_relevance": s.minimum_relevance,
        },
        "limits": {
            "max_messages": s.max_messages,
            "max_message_chars": s.max_message_chars,
            "max_total_chars": s.max_total_chars,
            "max_body_bytes": s.max_body_bytes,
            "max_top": s.max_top,
            "max_output_tokens": s.max_output_tokens,
            # The default budget only: the per-tenant overrides would name the served tenants to anyone.
            "tenant_tokens_per_minute": s.tenant_tokens_per_minute,
        },
        "answers": {
            "uncited": s.uncited_answer,
            "link_hosts": s.output_link_hosts,
            "quality_sample_rate": s.quality_sample_rate,
        },
        "prompts": runtime.prompts.versions(),
        "dev_mode": s.dev_mode,
    }
