"""How upstream failures reach the user: a problem (a response) before streaming, one error line after.

Messages are written for end users and never include upstream bodies, keys or endpoints.
"""

from __future__ import annotations

from chatfleet.chat.llm import ContentFiltered, DeadlineExceeded, LLMError, NoUpstreamAvailable
from chatfleet.chat.problems import (
    CONTENT_FILTERED,
    DEADLINE_EXCEEDED,
    UPSTREAM_FAILED,
    UPSTREAM_UNAVAILABLE,
    ProblemError,
)

BUSY_MESSAGE = "All model deployments are busy right now. Please retry shortly."
DEADLINE_MESSAGE = "The answer took too long and was stopped. Please retry."
BROKEN_MESSAGE = "The connection to the model broke before the answer was complete. Please retry."


def content_filter_message(exc: ContentFiltered) -> str:
    """Names which side was blocked and why, so the user knows what to rephrase."""
    where = "your message" if exc.source == "prompt" else "the answer"
    categories = ", ".join(exc.categories) if exc.categories else "policy"
    return f"The content filter blocked {where} ({categories}). Please rephrase your question."


def problem_for(exc: LLMError) -> ProblemError:
    """Before the first byte of the response: a real status code the client and the load gate can act on."""
    if isinstance(exc, NoUpstreamAvailable):
        return ProblemError(
            UPSTREAM_UNAVAILABLE, BUSY_MESSAGE, retry_after_s=max(exc.retry_after_s or 1.0, 1.0)
        )
    if isinstance(exc, ContentFiltered):
        return ProblemError(CONTENT_FILTERED, content_filter_message(exc))
    if isinstance(exc, DeadlineExceeded):
        return ProblemError(DEADLINE_EXCEEDED, DEADLINE_MESSAGE)
    return ProblemError(UPSTREAM_FAILED, BROKEN_MESSAGE, retry_after_s=1.0)


def stream_error_message(exc: LLMError) -> str:
    """After streaming began: the text of the final `{"error": ...}` line."""
    if isinstance(exc, ContentFiltered):
        return content_filter_message(exc)
    if isinstance(exc, DeadlineExceeded):
        return DEADLINE_MESSAGE
    if isinstance(exc, NoUpstreamAvailable):
        return BUSY_MESSAGE
    return BROKEN_MESSAGE
