"""Request validation that depends on settings: message count, characters, session state, and override caps.

Checked at the edge, before the turn starts, so oversized input costs no model or index call; each refusal
names the limit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from chatfleet.chat.config import Settings
from chatfleet.chat.problems import BAD_REQUEST, INPUT_TOO_LARGE, VALIDATION, ProblemError


def check_conversation(messages: Sequence[tuple[str, str]], settings: Settings) -> None:
    """`messages` are (role, content) pairs after system messages were set aside."""
    if not messages:
        raise ProblemError(BAD_REQUEST, "the conversation has no user or assistant messages")
    if messages[-1][0] != "user":
        raise ProblemError(BAD_REQUEST, "the last message must come from the user")
    if not messages[-1][1].strip():
        raise ProblemError(BAD_REQUEST, "the last user message is empty")
    if len(messages) > settings.max_messages:
        raise ProblemError(
            INPUT_TOO_LARGE,
            f"{len(messages)} messages exceed the limit of {settings.max_messages} (CHATFLEET_MAX_MESSAGES)",
            extensions={"limit": "max_messages", "max": settings.max_messages},
        )
    for index, (_, content) in enumerate(messages):
        check_unicode(f"message {index}", content)
        if len(content) > settings.max_message_chars:
            raise ProblemError(
                INPUT_TOO_LARGE,
                f"message {index} has {len(content)} characters, the limit is {settings.max_message_chars}",
                extensions={"limit": "max_message_chars", "max": settings.max_message_chars},
            )
    total = sum(len(content) for _, content in messages)
    if total > settings.max_total_chars:
        raise ProblemError(
            INPUT_TOO_LARGE,
            f"the conversation has {total} characters, the limit is {settings.max_total_chars}",
            extensions={"limit": "max_total_chars", "max": settings.max_total_chars},
        )


def check_unicode(what: str, text: str) -> None:
    """JSON may carry a lone UTF-16 surrogate (`"\\ud800"`): Python accepts it in a str, but nothing can
    encode it (a digest, a log line, the model call, the echo in a response), so it is refused at the edge."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ProblemError(
            BAD_REQUEST,
            f"{what} contains invalid Unicode (a lone surrogate at character {exc.start})",
            extensions={"limit": "unicode"},
        ) from None


def check_session_state(session_state: Any, settings: Settings) -> None:
    if session_state is None:
        return
    check_unicode("session_state", json.dumps(session_state, ensure_ascii=False))
    size = len(json.dumps(session_state, separators=(",", ":")).encode())
    if size > settings.max_session_state_bytes:
        raise ProblemError(
            INPUT_TOO_LARGE,
            f"session_state is {size} bytes, the limit is {settings.max_session_state_bytes}",
            extensions={"limit": "max_session_state_bytes", "max": settings.max_session_state_bytes},
        )


def check_top(top: int | None, settings: Settings) -> None:
    """The cap on `overrides.top`; an absent one takes the default when the chain resolves the options."""
    if top is not None and top > settings.max_top:
        raise ProblemError(
            VALIDATION,
            f"overrides.top={top} exceeds the limit of {settings.max_top} (CHATFLEET_MAX_TOP)",
            extensions={
                "errors": [
                    {
                        "loc": ["body", "context", "overrides", "top"],
                        "field": "context.overrides.top",
                        "msg": f"must be <= {settings.max_top}",
                    }
                ]
            },
        )
