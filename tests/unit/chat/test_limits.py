"""Input limits name the limit that was hit and are checked before any upstream call."""

import pytest

from chatfleet.chat.api.limits import check_conversation, check_session_state, check_top
from chatfleet.chat.config import Settings
from chatfleet.chat.problems import BAD_REQUEST, INPUT_TOO_LARGE, VALIDATION, ProblemError

SETTINGS = Settings(
    dev_mode=True,
    auth_mode="none",
    max_messages=3,
    max_message_chars=10,
    max_total_chars=15,
    max_session_state_bytes=20,
    max_top=5,
)


@pytest.mark.parametrize(
    ("messages", "problem", "limit"),
    [
        ([], BAD_REQUEST, None),
        ([("user", "hi"), ("assistant", "yo")], BAD_REQUEST, None),
        ([("user", "   ")], BAD_REQUEST, None),
        ([("user", "a")] * 4, INPUT_TOO_LARGE, "max_messages"),
        ([("user", "x" * 11)], INPUT_TOO_LARGE, "max_message_chars"),
        ([("user", "x" * 8), ("assistant", "y"), ("user", "z" * 8)], INPUT_TOO_LARGE, "max_total_chars"),
    ],
)
def test_conversation_limits(messages: list, problem: object, limit: str | None) -> None:
    with pytest.raises(ProblemError) as info:
        check_conversation(messages, SETTINGS)
    assert info.value.problem is problem
    assert info.value.extensions.get("limit") == limit


def test_within_limits_passes() -> None:
    check_conversation([("user", "hello"), ("assistant", "hi"), ("user", "bye")], SETTINGS)
    check_session_state({"a": 1}, SETTINGS)
    check_top(None, SETTINGS)
    check_top(5, SETTINGS)


def test_session_state_and_top_caps() -> None:
    with pytest.raises(ProblemError, match="session_state"):
        check_session_state({"a": "x" * 50}, SETTINGS)
    with pytest.raises(ProblemError) as info:
        check_top(6, SETTINGS)
    assert info.value.problem is VALIDATION
