"""POST /v1/chat/completions and GET /v1/models: the chat app as a grounded model for OpenAI-speaking tools.

Client system messages are set aside (the system prompt is the app's, from the prompt library). Citations
stay inline as `[id]` and a "Sources" list is appended, since OpenAI's format has no context field.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request

from chatfleet.chat.api.deps import PrincipalDep, RuntimeDep
from chatfleet.chat.api.limits import check_conversation
from chatfleet.chat.api.routes.chat import PROBLEM_RESPONSES, STREAM_HEADERS
from chatfleet.chat.api.turns import StartedTurn, TurnStream, start_turn
from chatfleet.chat.chain.failures import stream_error_message
from chatfleet.chat.chain.markup import LinkPolicy, MarkupFilter
from chatfleet.chat.chain.turn import AnswerEnd, PreparedTurn, TurnOverrides
from chatfleet.chat.llm import LLMError
from chatfleet.chat.protocol import OpenAIChatRequest

router = APIRouter(tags=["openai"])

MODEL_ID = "chatfleet-rag"
FINISH_REASONS = {"stop", "length", "content_filter", "tool_calls"}


def _sources_footer(prepared: PreparedTurn, cited: list[str]) -> str:
    """The cited sources as text; titles and names come from documents, so the answer's markup policy
    applies to them."""
    by_id = {c.id: c for c in prepared.citations}
    clean = MarkupFilter(LinkPolicy.of(prepared.options.link_hosts)).neutralise
    lines = [
        f"[{cid}]: {clean(by_id[cid].title)} ({clean(by_id[cid].source)})" for cid in cited if cid in by_id
    ]
    return "\n\nSources:\n" + "\n".join(lines) if lines else ""


def _finish_reason(end: AnswerEnd) -> str:
    return end.finish_reason if end.finish_reason in FINISH_REASONS else "stop"


def _usage(end: AnswerEnd) -> dict[str, int]:
    return {
        "prompt_tokens": end.input_tokens,
        "completion_tokens": end.output_tokens,
        "total_tokens": end.input_tokens + end.output_tokens,
    }


@router.get("/v1/models")
async def list_models(runtime: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
    """OpenAI tools list models before chatting; the app is one model."""
    return {
        "object": "list",
        "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "chatfleet"}],
    }


@router.post("/v1/chat/completions", responses=PROBLEM_RESPONSES)
async def chat_completions(
    body: OpenAIChatRequest, request: Request, runtime: RuntimeDep, principal: PrincipalDep
) -> Any:
    messages = [(m.role, m.text()) for m in body.messages if m.role in ("user", "assistant")]
    check_conversation(messages, runtime.settings)
    overrides = TurnOverrides(
        temperature=body.temperature, seed=body.seed, max_tokens=body.max_completion_tokens or body.max_tokens
    )
    route = "/v1/chat/completions"
    turn = await start_turn(request, runtime, principal, route, messages, overrides)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    model = body.model or MODEL_ID
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        headers = {**STREAM_HEADERS, "Server-Timing": turn.server_timing()}
        return TurnStream(
            _sse(turn, completion_id, created, model, include_usage),
            turn,
            media_type="text/event-stream",
            headers=headers,
        )
    end = await turn.collect()
    content = "".join(turn.parts) + _sources_footer(turn.prepared, end.cited)
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": _finish_reason(end),
            }
        ],
        "usage": _usage(end),
    }


def _event(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


async def _sse(
    turn: StartedTurn, cid: str, created: int, model: str, include_usage: bool
) -> AsyncIterator[bytes]:
    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return _event(
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            }
        )

    end: AnswerEnd | None = None
    error: BaseException | None = None
    try:
        yield chunk({"role": "assistant", "content": ""})
        async for event in turn.events():
            if isinstance(event, AnswerEnd):
                end = event
            else:
                turn.parts.append(event)
                yield chunk({"content": event})
        assert end is not None
        footer = _sources_footer(turn.prepared, end.cited)
        if footer:
            yield chunk({"content": footer})
        yield chunk({}, _finish_reason(end))
        if include_usage:
            yield _event(
                {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": _usage(end),
                }
            )
        yield b"data: [DONE]\n\n"
    except LLMError as exc:
        error = exc
        yield _event({"error": {"message": stream_error_message(exc), "type": "upstream_error"}})
    except asyncio.CancelledError as exc:
        error = exc
        raise
    except Exception as exc:
        error = exc
        yield _event(
            {"error": {"message": "The answer failed unexpectedly. Please retry.", "type": "internal_error"}}
        )
    finally:
        turn.finish(end if error is None else None, error)
