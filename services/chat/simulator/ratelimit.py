"""Sliding-window TPM/RPM quota of one deployment, with the retry time Azure would announce.

Like Azure, a request is charged its prompt tokens plus `max_tokens` when it is admitted, so a client can
be throttled before the answer is generated; rejected requests are not charged.
"""

import math
from collections import deque
from dataclasses import dataclass, field

WINDOW_S = 60.0


@dataclass
class Admission:
    allowed: bool
    remaining_tokens: int | None
    remaining_requests: int | None
    retry_after_s: float = 0.0


@dataclass
class SlidingWindowQuota:
    tokens_per_minute: int | None = None
    requests_per_minute: int | None = None
    _charges: deque[tuple[float, int]] = field(default_factory=deque)
    _tokens_in_window: int = 0

    def _expire(self, now: float) -> None:
        while self._charges and self._charges[0][0] <= now - WINDOW_S:
            _, tokens = self._charges.popleft()
            self._tokens_in_window -= tokens

    def _remaining(self) -> tuple[int | None, int | None]:
        tokens = None if self.tokens_per_minute is None else self.tokens_per_minute - self._tokens_in_window
        requests = None if self.requests_per_minute is None else self.requests_per_minute - len(self._charges)
        return tokens, requests

    def _wait_until_fits(self, now: float, cost: int) -> float:
        """Seconds until enough old charges leave the window for this request to fit both limits."""
        tokens_used, requests_used = self._tokens_in_window, len(self._charges)
        wait = 0.0
        for stamp, tokens in self._charges:
            tokens_ok = self.tokens_per_minute is None or tokens_used + cost <= self.tokens_per_minute
            requests_ok = self.requests_per_minute is None or requests_used + 1 <= self.requests_per_minute
            if tokens_ok and requests_ok:
                break
            wait = stamp + WINDOW_S - now
            tokens_used -= tokens
            requests_used -= 1
        return max(wait, 0.001)

    def admit(self, now: float, cost: int) -> Admission:
        self._expire(now)
        tokens_left, requests_left = self._remaining()
        too_big = self.tokens_per_minute is not None and cost > self.tokens_per_minute
        if too_big:
            return Admission(False, tokens_left, requests_left, WINDOW_S)
        over_tokens = tokens_left is not None and cost > tokens_left
        over_requests = requests_left is not None and requests_left < 1
        if over_tokens or over_requests:
            return Admission(False, tokens_left, requests_left, self._wait_until_fits(now, cost))
        self._charges.append((now, cost))
        self._tokens_in_window += cost
        tokens_left, requests_left = self._remaining()
        return Admission(True, tokens_left, requests_left)

    def peek(self, now: float) -> tuple[int | None, int | None]:
        self._expire(now)
        return self._remaining()


def retry_after_headers(retry_after_s: float) -> dict[str, str]:
    """Azure sends both: milliseconds for clients that can use them, whole seconds for the HTTP standard."""
    milliseconds = max(1, math.ceil(retry_after_s * 1000))
    return {"retry-after-ms": str(milliseconds), "retry-after": str(math.ceil(milliseconds / 1000))}
