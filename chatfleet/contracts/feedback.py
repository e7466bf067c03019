"""The feedback log line: how the chat service records a rating when it keeps no conversation history, and
what `chatfleet eval import-feedback --log` reads back. One JSON object after the logger's prefix."""

from __future__ import annotations

import json
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

FEEDBACK_LOG_EVENT: Final = "chatfleet.feedback"
Rating = Literal["up", "down"]


class CitedSource(BaseModel):
    id: str
    source: str


class FeedbackLogRecord(BaseModel):
    """No answer text and no user id; the question only when the service logs content
    (CHATFLEET_LOG_CONTENT)."""

    model_config = ConfigDict(extra="ignore")

    event: Literal["chatfleet.feedback"] = FEEDBACK_LOG_EVENT
    at: float
    turn_id: str
    tenant: str
    rating: Rating
    comment: str | None = None
    prompt_versions: dict[str, str] = {}
    deployment: str | None = None
    sources: list[CitedSource] = []
    question: str | None = None

    def line(self) -> str:
        return self.model_dump_json(exclude_none=True)


def parse_feedback_line(line: str) -> FeedbackLogRecord | None:
    """The record in one log line (whatever prefix the log format put before it), None for other lines."""
    start = line.find('{"event":"' + FEEDBACK_LOG_EVENT + '"')
    if start < 0:
        return None
    try:
        data: Any = json.loads(line[start:])
        return FeedbackLogRecord.model_validate(data)
    except (json.JSONDecodeError, ValidationError):
        return None
