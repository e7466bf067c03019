"""The GenAI semantic-convention attributes the chain's model spans (rewrite, answer) carry."""

from __future__ import annotations

from typing import Any

from chatfleet.chat.llm import Completion, StreamEnd

GEN_AI_PROVIDER = "azure.ai.openai"


def gen_ai_attributes(operation: str, result: Completion | StreamEnd) -> dict[str, Any]:
    """Both results carry the model, usage, finish reason and deployment the conventions ask for."""
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": GEN_AI_PROVIDER,
        "chatfleet.chain.step": operation,
        "gen_ai.request.model": result.model or "",
        "gen_ai.response.model": result.model or "",
        "gen_ai.usage.input_tokens": result.input_tokens,
        "gen_ai.usage.output_tokens": result.output_tokens,
        "gen_ai.response.finish_reasons": [result.finish_reason],
        "chatfleet.deployment": result.deployment or "",
        "chatfleet.ttft_s": result.ttft_s if result.ttft_s is not None else -1.0,
    }
