"""LLM router: LLM-aware load balancing and failover over a pool of Azure OpenAI deployments."""

from chatfleet.chat.llm.config import DeploymentConfig, deployments_from_env, parse_deployments
from chatfleet.chat.llm.errors import (
    ContentFiltered,
    DeadlineExceeded,
    LLMError,
    NoUpstreamAvailable,
    UpstreamRejected,
    UpstreamStreamBroken,
)
from chatfleet.chat.llm.results import Completion, StreamDelta, StreamEnd
from chatfleet.chat.llm.router import LLMRouter

__all__ = [
    "Completion",
    "ContentFiltered",
    "DeadlineExceeded",
    "DeploymentConfig",
    "LLMError",
    "LLMRouter",
    "NoUpstreamAvailable",
    "StreamDelta",
    "StreamEnd",
    "UpstreamRejected",
    "UpstreamStreamBroken",
    "deployments_from_env",
    "parse_deployments",
]
