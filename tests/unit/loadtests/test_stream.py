"""The stream reader decides what a failed answer is: error events, truncation, empty or malformed streams."""

import json

from chatfleet.loadtests.stream import EMPTY_ANSWER, ERROR_EVENT, MALFORMED_LINE, TRUNCATED, ChatStreamReader


class Clock:
    """A hand-advanced clock, so TTFT and tokens/s are exact."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def line(event: dict) -> bytes:
    return json.dumps(event).encode() + b"\n"


FIRST = {"delta": {"role": "assistant"}, "context": {"data_points": {"text": ["a.md#1: x"]}, "thoughts": []}}


def test_ttft_is_the_first_content_delta_not_the_role_line() -> None:
    clock = Clock()
    reader = ChatStreamReader(started=clock.now, clock=clock)
    clock.now += 0.05
    reader.feed(line(FIRST))
    clock.now += 0.25
    reader.feed(line({"delta": {"content": "Hello"}}))
    clock.now += 1.0
    reader.feed(line({"delta": {"content": " there, friend [a.md#1]."}}))
    result = reader.finish(clean_end=True)
    assert result.failure is None
    assert round(result.ttft_ms) == 300
    assert round(result.total_ms) == 1300
    assert result.content == "Hello there, friend [a.md#1]."
    assert result.data_points == {"text": ["a.md#1: x"]}
    # "Hello" is 1 token; " there" "," " friend" " [" "a" "." "md" "#" "1" "]" "." follow in 1 s
    assert result.output_tokens == 1 + 11
    assert result.tokens_per_second == 11.0


def test_error_event_after_streaming_began_fails_the_answer() -> None:
    reader = ChatStreamReader(started=0.0, clock=lambda: 1.0)
    reader.feed(line(FIRST) + line({"delta": {"content": "partial"}}) + line({"error": "upstream dropped"}))
    result = reader.finish(clean_end=True)
    assert result.failure_kind == ERROR_EVENT
    assert "upstream dropped" in (result.failure or "")
    assert result.ttft_ms is not None


def test_body_without_http_end_is_truncated() -> None:
    reader = ChatStreamReader(started=0.0, clock=lambda: 1.0)
    reader.feed(line(FIRST) + line({"delta": {"content": "half an answ"}}))
    assert reader.finish(clean_end=False).failure_kind == TRUNCATED


def test_transport_error_is_truncated_and_named() -> None:
    reader = ChatStreamReader(started=0.0, clock=lambda: 1.0)
    reader.feed(line(FIRST))
    result = reader.finish(clean_end=False, transport_error="ConnectionResetError: reset by peer")
    assert result.failure_kind == TRUNCATED
    assert "reset by peer" in (result.failure or "")


def test_unterminated_last_line_is_truncated_even_if_http_completed() -> None:
    reader = ChatStreamReader(started=0.0, clock=lambda: 1.0)
    reader.feed(line(FIRST) + line({"delta": {"content": "ok"}}) + b'{"delta": {"cont')
    assert reader.finish(clean_end=True).failure_kind == TRUNCATED


def test_lines_split_across_reads_are_joined() -> None:
    reader = ChatStreamReader(started=0.0, clock=lambda: 1.0)
    whole = line(FIRST) + line({"delta": {"content": "joined"}})
    for index in range(0, len(whole), 7):
        reader.feed(whole[index : index + 7])
    result = reader.finish(clean_end=True)
    assert result.failure is None
    assert result.content == "joined"


def test_stream_without_content_is_an_empty_answer() -> None:
    reader = ChatStreamReader(started=0.0, clock=lambda: 1.0)
    reader.feed(line(FIRST))
    result = reader.finish(clean_end=True)
    assert result.failure_kind == EMPTY_ANSWER
    assert result.ttft_ms is None


def test_non_json_line_is_malformed() -> None:
    reader = ChatStreamReader(started=0.0, clock=lambda: 1.0)
    reader.feed(line(FIRST) + b"data: {oops}\n" + line({"delta": {"content": "x"}}))
    assert reader.finish(clean_end=True).failure_kind == MALFORMED_LINE


def test_single_delta_answer_has_no_decode_rate() -> None:
    reader = ChatStreamReader(started=0.0, clock=lambda: 1.0)
    reader.feed(line({"delta": {"content": "Yes."}}))
    result = reader.finish(clean_end=True)
    assert result.failure is None
    assert result.tokens_per_second is None
