"""/chat_history/sessions: the caller's own conversations (the azure-search-openai-demo paths).

The owner is the verified token's tenant and `oid` (dev mode: the tenant header and the fixed dev user), never
anything in the request: another user's session, in the same tenant or another, answers 404 like one that
never existed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel

from chatfleet.chat.api.deps import PrincipalDep, RuntimeDep
from chatfleet.chat.api.routes.chat import PROBLEM_RESPONSES
from chatfleet.chat.history import HistoryRecorder, InvalidCursor, Owner, SessionSummary
from chatfleet.chat.problems import BAD_REQUEST, FORBIDDEN, NOT_FOUND, ProblemError
from chatfleet.chat.retrieval import Principal
from chatfleet.chat.runtime import Runtime

router = APIRouter(prefix="/chat_history", tags=["history"], responses=PROBLEM_RESPONSES)

SessionId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{8,64}$", description="From `session_state`.")]


class SessionItem(BaseModel):
    id: str
    title: str
    timestamp: int
    created: int
    turns: int


class SessionList(BaseModel):
    sessions: list[SessionItem]
    continuation_token: str | None


class TurnItem(BaseModel):
    question: str
    answer: str
    sources: list[dict[str, Any]]
    prompt_versions: dict[str, str]
    deployment: str | None
    model: str | None
    timings_ms: dict[str, float]
    timestamp: int
    turn_id: str | None = None
    rating: str | None = None
    comment: str | None = None


class SessionBody(SessionItem):
    answers: list[TurnItem]


class Deleted(BaseModel):
    deleted: int


def _ms(epoch_s: float) -> int:
    return int(epoch_s * 1000)


def _item(s: SessionSummary) -> SessionItem:
    return SessionItem(
        id=s.id, title=s.title, timestamp=_ms(s.updated_at), created=_ms(s.created_at), turns=s.turns
    )


def _scope(runtime: Runtime, principal: Principal) -> tuple[HistoryRecorder, Owner]:
    if runtime.history is None:
        raise ProblemError(NOT_FOUND, "conversation history is off for this application")
    if principal.oid is None:
        raise ProblemError(FORBIDDEN, "conversation history needs a user: the token has no oid claim")
    return runtime.history, Owner(principal.tenant, principal.oid)


@router.get("/sessions", response_model=SessionList)
async def list_sessions(
    runtime: RuntimeDep,
    principal: PrincipalDep,
    count: Annotated[int, Query(ge=1, le=100)] = 20,
    continuation_token: Annotated[str | None, Query(max_length=512)] = None,
) -> SessionList:
    """My sessions, the most recently used first, `count` per page."""
    history, owner = _scope(runtime, principal)
    try:
        page = await history.store.list_sessions(owner, limit=count, cursor=continuation_token)
    except InvalidCursor as exc:
        raise ProblemError(BAD_REQUEST, str(exc)) from exc
    return SessionList(sessions=[_item(s) for s in page.sessions], continuation_token=page.cursor)


@router.get("/sessions/{session_id}", response_model=SessionBody)
async def get_session(session_id: SessionId, runtime: RuntimeDep, principal: PrincipalDep) -> SessionBody:
    """One of my sessions with every turn, oldest first (what the UI reopens and continues)."""
    history, owner = _scope(runtime, principal)
    detail = await history.store.get_session(owner, session_id)
    if detail is None:
        raise ProblemError(NOT_FOUND, "no such conversation")
    answers = [
        TurnItem(
            question=t.question,
            answer=t.answer,
            sources=t.sources,
            prompt_versions=t.prompt_versions,
            deployment=t.deployment,
            model=t.model,
            timings_ms=t.timings_ms,
            timestamp=_ms(t.created_at),
            turn_id=t.turn_id,
            rating=t.rating,
            comment=t.comment,
        )
        for t in detail.turns
    ]
    return SessionBody(**_item(detail.summary).model_dump(), answers=answers)


@router.delete("/sessions/{session_id}", status_code=204, response_class=Response)
async def delete_session(session_id: SessionId, runtime: RuntimeDep, principal: PrincipalDep) -> Response:
    """Deletes one of my sessions and all its turns."""
    history, owner = _scope(runtime, principal)
    if not await history.store.delete_session(owner, session_id):
        raise ProblemError(NOT_FOUND, "no such conversation")
    return Response(status_code=204)


@router.delete("/sessions", response_model=Deleted)
async def delete_all_sessions(runtime: RuntimeDep, principal: PrincipalDep) -> Deleted:
    """Deletes every session of mine (in this application), e.g. on a user's erasure request."""
    history, owner = _scope(runtime, principal)
    return Deleted(deleted=await history.store.delete_all(owner))
