"""POST /chat/feedback: a thumbs up or down, with an optional comment, on one of the caller's answers.

The turn is named by the `turn_id` of its closing line; its owner is the verified token's tenant and `oid`,
so another user's turn answers 404 like one that never existed. What the rating is counted and stored with
(prompt versions, deployment, cited sources) comes from the turn as the service answered it, never from
the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from chatfleet.chat.api.deps import PrincipalDep, RuntimeDep
from chatfleet.chat.api.routes.chat import PROBLEM_RESPONSES
from chatfleet.chat.feedback import Rating, log_feedback
from chatfleet.chat.history import Owner, RatedStoredTurn, TurnFeedback
from chatfleet.chat.problems import NOT_FOUND, VALIDATION, ProblemError
from chatfleet.chat.runtime import Runtime

router = APIRouter(tags=["feedback"], responses={**PROBLEM_RESPONSES, 404: PROBLEM_RESPONSES[400]})

# The history writer records a turn just after its closing line; a rating that races it waits this long.
WRITER_WAIT_S = 2.0


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    turn_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{8,64}$", description="From the closing line.")]
    rating: Rating
    comment: Annotated[str | None, Field(max_length=20000)] = None


class FeedbackResponse(BaseModel):
    turn_id: str
    rating: Rating
    comment: str | None
    stored: str = Field(description="`history` (on the turn) or `log` (the service's feedback log line).")


def _comment(body: FeedbackRequest, runtime: Runtime) -> str | None:
    comment = (body.comment or "").strip() or None
    limit = runtime.settings.feedback_comment_chars
    if comment is not None and len(comment) > limit:
        raise ProblemError(VALIDATION, f"the comment is longer than {limit} characters")
    return comment


async def _rate_in_history(runtime: Runtime, owner: Owner, feedback: TurnFeedback) -> RatedStoredTurn | None:
    history = runtime.history
    assert history is not None
    stored = await history.store.set_feedback(owner, feedback)
    if stored is None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(history.flush(), WRITER_WAIT_S)
        stored = await history.store.set_feedback(owner, feedback)
    return stored


@router.post("/chat/feedback", response_model=FeedbackResponse)
async def feedback(body: FeedbackRequest, runtime: RuntimeDep, principal: PrincipalDep) -> FeedbackResponse:
    """Rates one of my answers; rating it again replaces the earlier rating. The counter counts a rating
    once: the same rating again (the page sends 👎, then 👎 with the comment) is not counted twice."""
    comment = _comment(body, runtime)
    metrics = runtime.metrics
    if runtime.history is not None and principal.oid is not None:
        owner = Owner(principal.tenant, principal.oid)
        stored = await _rate_in_history(
            runtime, owner, TurnFeedback(body.turn_id, body.rating, comment, time.time())
        )
        if stored is not None:
            if stored.previous_rating != body.rating:
                answer_prompt = stored.turn.prompt_versions.get("answer", "unknown")
                metrics.feedback_total.labels(body.rating, answer_prompt).inc()
            return FeedbackResponse(
                turn_id=body.turn_id, rating=body.rating, comment=comment, stored="history"
            )
    recent = runtime.recent_turns.find(body.turn_id, principal.tenant, principal.oid)
    if recent is None:
        raise ProblemError(NOT_FOUND, "no such answer of yours (or too old to rate)")
    # A comment is the user's own words: in the log only with content logging on, like the question.
    log_feedback(recent, body.rating, comment if runtime.settings.log_content else None)
    if runtime.recent_turns.rate(recent, body.rating) != body.rating:
        metrics.feedback_total.labels(body.rating, recent.answer_prompt).inc()
    return FeedbackResponse(turn_id=body.turn_id, rating=body.rating, comment=comment, stored="log")
