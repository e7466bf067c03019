"""POST /chat and POST /chat/stream: the Microsoft AI Chat Protocol (azure-search-openai-demo shape)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request

from chatfleet.chat.api.deps import PrincipalDep, RuntimeDep
from chatfleet.chat.api.limits import check_conversation, check_session_state, check_top
from chatfleet.chat.api.problems import PROBLEM_MEDIA_TYPE
from chatfleet.chat.api.turns import CONTENT_FILTER_STOP, StartedTurn, TurnStream, session_for, start_turn
from chatfleet.chat.chain.failures import stream_error_message
from chatfleet.chat.chain.turn import AnswerEnd, PreparedTurn, TurnOverrides, end_thought
from chatfleet.chat.llm import LLMError
from chatfleet.chat.protocol import ChatRequest, ChatResponse, ResponseContext, ResponseMessage
from chatfleet.chat.runtime import Runtime

router = APIRouter(tags=["chat"])

JSONL_MEDIA_TYPE = "application/jsonl"
STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": "Problem details (RFC 9457)", "content": {PROBLEM_MEDIA_TYPE: {}}}
    for code in (400, 401, 403, 413, 422, 429, 503, 504)
}


def _line(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def _overrides(body: ChatRequest) -> TurnOverrides:
    o = body.context.overrides
    return TurnOverrides(
        top=o.top,
        retrieval_mode=o.retrieval_mode,
        semantic_ranker=o.semantic_ranker,
        minimum_search_score=o.minimum_search_score,
        temperature=o.temperature,
        seed=o.seed,
        max_tokens=o.max_tokens,
        suggest_followup_questions=o.suggest_followup_questions,
    )


async def _start(
    request: Request,
    body: ChatRequest,
    runtime: Runtime,
    principal: Any,
    route: str,
    prelude: Callable[[PreparedTurn], bytes] | None = None,
) -> StartedTurn:
    messages = [(m.role, m.content) for m in body.messages]
    check_conversation(messages, runtime.settings)
    check_session_state(body.session_state, runtime.settings)
    check_top(body.context.overrides.top, runtime.settings)
    return await start_turn(request, runtime, principal, route, messages, _overrides(body), prelude)


def _context_line(prepared: PreparedTurn, session_state: Any) -> bytes:
    """The stream's first line: the sources and the chain's thoughts, before any answer text."""
    return _line(
        {
            "delta": {"role": "assistant"},
            "context": {
                "data_points": prepared.data_points.model_dump(),
                "thoughts": [t.model_dump() for t in prepared.thoughts],
            },
            "session_state": session_state,
        }
    )


@router.post("/chat", response_model=ChatResponse, responses=PROBLEM_RESPONSES)
async def chat(
    body: ChatRequest, request: Request, runtime: RuntimeDep, principal: PrincipalDep
) -> ChatResponse:
    """One answer as a whole, with its sources and the chain's thoughts."""
    session_id = session_for(runtime, principal, body.session_state)
    turn = await _start(request, body, runtime, principal, "/chat")
    turn.session_id = session_id
    end = await turn.collect()
    thoughts = [*turn.prepared.thoughts, end_thought(end)]
    followups = (
        turn.prepared.followup_questions(end.cited)
        if turn.prepared.options.suggest_followup_questions
        else None
    )
    return ChatResponse(
        message=ResponseMessage(content="".join(turn.parts)),
        context=ResponseContext(
            data_points=turn.prepared.data_points,
            thoughts=thoughts,
            followup_questions=followups,
            turn_id=turn.turn_id,
        ),
        session_state=session_id or body.session_state,
    )


@router.post(
    "/chat/stream",
    responses={200: {"content": {JSONL_MEDIA_TYPE: {}}, "description": "JSON lines"}, **PROBLEM_RESPONSES},
)
async def chat_stream(
    body: ChatRequest, request: Request, runtime: RuntimeDep, principal: PrincipalDep
) -> TurnStream:
    """JSON lines: context first, then content deltas as the model writes them, then a closing line."""
    session_id = session_for(runtime, principal, body.session_state)
    session_state = session_id or body.session_state
    turn = await _start(
        request, body, runtime, principal, "/chat/stream", lambda p: _context_line(p, session_state)
    )
    turn.session_id = session_id
    headers = {**STREAM_HEADERS, "Server-Timing": turn.server_timing()}
    return TurnStream(_jsonl(turn, session_state), turn, media_type=JSONL_MEDIA_TYPE, headers=headers)


async def _jsonl(turn: StartedTurn, session_state: Any) -> AsyncIterator[bytes]:
    prepared = turn.prepared
    end: AnswerEnd | None = None
    error: BaseException | None = None
    # The opening line goes out with the first answer text in one write: one wake-up of the client (and
    # one TCP segment) instead of two, on the path every first token takes.
    head = turn.opening
    try:
        async for event in turn.events():
            if isinstance(event, AnswerEnd):
                end = event
            else:
                turn.parts.append(event)
                yield head + _line({"delta": {"content": event}})
                head = b""
        if head:
            yield head
            head = b""
        assert end is not None
        if end.finish_reason == "content_filter":
            yield _line({"error": CONTENT_FILTER_STOP})
        else:
            followups = (
                prepared.followup_questions(end.cited)
                if prepared.options.suggest_followup_questions
                else None
            )
            yield _line(
                {
                    "delta": {},
                    "context": {
                        "thoughts": [end_thought(end).model_dump()],
                        "followup_questions": followups,
                        "turn_id": turn.turn_id,
                    },
                    "session_state": session_state,
                }
            )
    except LLMError as exc:
        error = exc
        yield head + _line({"error": stream_error_message(exc)})
    except asyncio.CancelledError as exc:  # client went away
        error = exc
        raise
    except Exception as exc:
        error = exc
        yield head + _line({"error": "The answer failed unexpectedly. Please retry."})
    finally:
        turn.finish(end if error is None else None, error)
