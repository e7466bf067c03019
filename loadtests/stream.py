"""Reads the chat service's JSON-lines answer stream line by line as it arrives.

Tokens are counted with the simulator's rule (word and punctuation pieces, chatfleet.contracts.tokens)
because the stream carries text, not token ids, and upstreams batch several tokens into one delta; against
real GPT models this undercounts BPE tokens by roughly a quarter, which errs on the safe side of a minimum
tokens/s SLO.
Kept free of Locust so the rules that decide what counts as a failed answer (error event, truncated
stream, empty answer, malformed line) are unit-testable and identical for every user class.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chatfleet.contracts.tokens import count_tokens

TRUNCATED = "truncated stream"
EMPTY_ANSWER = "empty answer"
MALFORMED_LINE = "malformed stream line"
ERROR_EVENT = "error event"
MIN_DECODE_WINDOW_S = 0.01  # deltas that arrived in one read carry no pace information


@dataclass
class StreamResult:
    """What one streamed answer measured: the figures Locust rows and tenant checks are built from."""

    ttft_ms: float | None
    total_ms: float
    output_tokens: int
    content: str
    data_points: Any
    failure: str | None
    failure_kind: str | None

    tokens_per_second: float | None


@dataclass
class ChatStreamReader:
    """Accumulates one answer; `feed` takes raw lines, `finish` says whether the stream ended cleanly."""

    started: float
    clock: Callable[[], float] = time.perf_counter
    _ttft_s: float | None = None
    _last_s: float = 0.0
    _first_tokens: int = 0
    _parts: list[str] = field(default_factory=list)
    _data_points: Any = None
    _failure: str | None = None
    _failure_kind: str | None = None
    _pending: bytes = b""

    def feed(self, raw: bytes) -> None:
        """Parses every complete line in `raw`; an unterminated tail waits for the next bytes."""
        *complete, self._pending = (self._pending + raw).split(b"\n")
        for line in complete:
            self._feed_line(line)

    def _feed_line(self, line: bytes) -> None:
        text = line.strip()
        if not text:
            return
        try:
            event = json.loads(text)
        except ValueError:
            self._fail(MALFORMED_LINE, f"{MALFORMED_LINE}: {text[:80]!r}")
            return
        if not isinstance(event, dict):
            self._fail(MALFORMED_LINE, f"{MALFORMED_LINE}: not an object")
            return
        if event.get("error"):
            self._fail(ERROR_EVENT, f"{ERROR_EVENT}: {str(event['error'])[:200]}")
            return
        context = event.get("context")
        if isinstance(context, dict) and "data_points" in context:
            self._data_points = context["data_points"]
        delta = event.get("delta")
        content = delta.get("content") if isinstance(delta, dict) else None
        if isinstance(content, str) and content:
            self._last_s = self.clock() - self.started
            if self._ttft_s is None:
                self._ttft_s = self._last_s
                self._first_tokens = count_tokens(content)
            self._parts.append(content)

    def _fail(self, kind: str, message: str) -> None:
        if self._failure is None:
            self._failure_kind, self._failure = kind, message

    def finish(self, clean_end: bool, transport_error: str | None = None) -> StreamResult:
        """Closes the answer: a stream that ended without the HTTP end-of-body, or mid-line, is truncated."""
        total_ms = (self.clock() - self.started) * 1000.0
        if transport_error is not None:
            self._fail(TRUNCATED, f"{TRUNCATED}: {transport_error}")
        elif not clean_end or self._pending.strip():
            self._fail(TRUNCATED, f"{TRUNCATED}: the body ended before the answer did")
        if self._failure is None and self._ttft_s is None:
            self._fail(EMPTY_ANSWER, f"{EMPTY_ANSWER}: no content delta")
        content = "".join(self._parts)
        tokens = count_tokens(content)
        return StreamResult(
            ttft_ms=None if self._ttft_s is None else self._ttft_s * 1000.0,
            total_ms=total_ms,
            output_tokens=tokens,
            tokens_per_second=self._decode_rate(tokens),
            content=content,
            data_points=self._data_points,
            failure=self._failure,
            failure_kind=self._failure_kind,
        )

    def _decode_rate(self, tokens: int) -> float | None:
        """Tokens/s after the first delta: the pace a reader sees, independent of TTFT."""
        if (
            self._ttft_s is None
            or self._last_s - self._ttft_s < MIN_DECODE_WINDOW_S
            or tokens <= self._first_tokens
        ):
            return None
        return (tokens - self._first_tokens) / (self._last_s - self._ttft_s)
