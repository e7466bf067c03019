"""One non-streaming attempt (`LLMRouter.complete`) on one deployment: the call, then its booking as a
success, a content-filter refusal, a fail-over or an error for the caller."""

import asyncio
from typing import Any

import openai
from openai import AsyncAzureOpenAI

from chatfleet.chat.llm.errors import ContentFiltered
from chatfleet.chat.llm.failures import FailOver, classify_failure, filtered_categories
from chatfleet.chat.llm.health import DeploymentHealth
from chatfleet.chat.llm.limits import AttemptLimits
from chatfleet.chat.llm.outcomes import (
    book_failure,
    book_outcome,
    book_success,
    end_call,
    observe_quota_headers,
    start_call,
)
from chatfleet.chat.llm.results import Completion
from chatfleet.chat.llm.tracing import end_failure, end_success, start_attempt_span, trace_headers
from chatfleet.contracts.tokens import estimate_message_tokens


def _untransformed(messages: list[dict[str, str]]) -> dict[str, Any]:
    """The messages go in `extra_body` (with `messages=[]` as the typed argument) because the SDK walks typed
    params recursively to transform them, a no-op for plain text messages that measured a quarter of the
    client CPU of a streamed call (bench/router_bench.py); `extra_body` is sent as given."""
    return {"messages": messages}


async def complete_once(
    client: AsyncAzureOpenAI,
    limits: AttemptLimits,
    health: DeploymentHealth,
    messages: list[dict[str, str]],
    deadline: float,
    attempt: int,
    max_tokens: int,
    temperature: float | None,
    seed: int | None,
    operation: str,
) -> Completion:
    """The whole completion from `health`'s deployment; raises FailOver when another one may be tried."""
    config = health.config
    timeout_s = limits.attempt_timeout(deadline)
    span = start_attempt_span(
        config,
        purpose=operation,
        attempt=attempt,
        max_tokens=max_tokens,
        temperature=temperature,
        seed=seed,
        streaming=False,
    )
    start_call(health)
    started = limits.clock()
    try:
        async with asyncio.timeout(timeout_s):
            raw = await client.chat.completions.with_raw_response.create(
                model=config.deployment,
                messages=[],
                extra_body=_untransformed(messages),
                max_tokens=max_tokens,
                temperature=temperature if temperature is not None else openai.omit,
                seed=seed if seed is not None else openai.omit,
                timeout=timeout_s,
                extra_headers=trace_headers(span),
            )
        observe_quota_headers(health, raw.headers)
        response = raw.parse()
    except BaseException as error:
        raise classify_failure(limits, health, error, span, deadline) from None
    finally:
        end_call(health)
    elapsed = limits.clock() - started
    if not response.choices:
        book_failure(health, "error")
        end_failure(span, "empty_response")
        raise FailOver("error", f"{health.name}: response without choices")
    choice = response.choices[0]
    finish_reason = choice.finish_reason or "stop"
    if finish_reason == "content_filter":
        health.breaker.record_success()
        book_outcome(health, "content_filtered")
        end_failure(span, "content_filtered")
        raise ContentFiltered(
            "completion", filtered_categories((choice.model_extra or {}).get("content_filter_results"))
        )
    usage = response.usage
    input_tokens = usage.prompt_tokens if usage else estimate_message_tokens(messages)
    output_tokens = usage.completion_tokens if usage else 0
    book_success(health)
    end_success(
        span,
        model=response.model,
        response_id=response.id,
        finish_reason=finish_reason,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )
    return Completion(
        text=choice.message.content or "",
        finish_reason=finish_reason,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        deployment=health.name,
        model=response.model,
        ttft_s=elapsed,
    )
