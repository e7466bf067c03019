"""Settings of the Azure OpenAI simulator: start-up knobs, plus the fault and limit shapes of its admin API.

Faults and limits are separate models because they change at run time (load tests inject faults while
traffic flows), while the rest is fixed when the server starts.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class FaultSettings(BaseModel):
    """Faults applied to chat/embedding calls of one deployment (or to all, as the global default)."""

    model_config = ConfigDict(extra="forbid")

    error_rate: float = Field(
        0.0, ge=0.0, le=1.0, description="Share of requests answered with error_status."
    )
    error_status: Literal[500, 502, 503, 504] = 503
    added_latency_ms: float = Field(
        0.0, ge=0.0, le=600_000, description="Extra delay before the first token."
    )
    drop_after_tokens: int | None = Field(
        None, ge=0, description="Streams are cut (connection closed, no [DONE]) after this many tokens."
    )
    content_filter: Literal["off", "prompt", "completion"] = Field(
        "off",
        description="prompt: 400 content_filter; completion: answer ends with finish_reason content_filter.",
    )
    force_429: bool = Field(False, description="Answer every request with 429 as if the quota were used up.")
    retry_after_ms: int = Field(1000, ge=0, le=3_600_000, description="Retry-after sent with forced 429s.")


class LimitSettings(BaseModel):
    """Per-deployment quota, enforced over a sliding 60 s window like Azure's TPM/RPM."""

    model_config = ConfigDict(extra="forbid")

    tokens_per_minute: int | None = Field(None, ge=1)
    requests_per_minute: int | None = Field(None, ge=1)


class SimulatorConfig(BaseModel):
    """Everything fixed at start-up; `chatfleet simulator` flags map one to one onto these fields."""

    model_config = ConfigDict(extra="forbid")

    ttft_ms: float = Field(150.0, ge=0.0, description="Time to first token for an idle deployment.")
    ttft_per_inflight_ms: float = Field(
        0.0, ge=0.0, description="Extra TTFT per request already in flight at the deployment (a load knee)."
    )
    tokens_per_second: float = Field(60.0, gt=0.0, description="Output pace of each stream.")
    min_chunk_interval_ms: float = Field(
        10.0, ge=0.0, description="Tokens are batched so one stream wakes up at most this often."
    )
    limits: LimitSettings = LimitSettings()
    faults: FaultSettings = FaultSettings()
    deployments: list[str] | None = Field(
        None, description="Known deployment names; None accepts any name (404 DeploymentNotFound otherwise)."
    )
    model: str = Field("gpt-4o-mini", description="Model name reported in responses.")
    embedding_dimensions: int = Field(1536, ge=8, le=8192)
    flag_terms: list[str] = Field(
        default_factory=lambda: ["SIMULATE_CONTENT_FILTER"],
        description="A prompt containing one of these is refused like Azure's prompt filter.",
    )
    require_api_key: bool = Field(True, description="401 without an api-key or Bearer header (any value).")
    seed: int | None = Field(None, description="Seed for fault dice, so fault runs are reproducible.")
