"""Circuit breaker of one deployment: after consecutive failures (5xx, timeouts, broken connections) the
deployment is skipped for `reset_s`, then one probe request decides whether it is back.

Throttling (429) is not a failure here: it has its own cooldown with the upstream's announced retry time.
Time is injected so the state machine is tested without sleeping.
"""

from collections.abc import Callable
from enum import IntEnum


class BreakerState(IntEnum):
    """Values double as the Prometheus gauge value."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    def __init__(self, clock: Callable[[], float], failure_threshold: int = 3, reset_s: float = 15.0) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        if reset_s <= 0:
            raise ValueError("reset_s must be > 0")
        self._clock = clock
        self.failure_threshold = failure_threshold
        self.reset_s = reset_s
        self.consecutive_failures = 0
        self._opened_at: float | None = None
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at < self.reset_s:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def can_send(self) -> bool:
        """Closed: yes. Open: no. Half-open: only while no probe is already out."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        return state is BreakerState.HALF_OPEN and not self._probe_in_flight

    def on_send(self) -> bool:
        """Marks the start of a request; returns True when it is the half-open probe."""
        if self.state is BreakerState.HALF_OPEN:
            self._probe_in_flight = True
            return True
        return False

    def release_probe(self) -> None:
        """A probe that ended without a verdict (cancelled, or a 4xx about the request) frees the slot."""
        self._probe_in_flight = False

    def record_success(self) -> None:
        self.consecutive_failures = 0
        self._opened_at = None
        self._probe_in_flight = False

    def record_failure(self) -> None:
        self.consecutive_failures += 1
        was_probing = self._probe_in_flight
        self._probe_in_flight = False
        if (
            was_probing
            or self.state is BreakerState.HALF_OPEN
            or self.consecutive_failures >= self.failure_threshold
        ):
            self._opened_at = self._clock()

    def seconds_until_probe(self) -> float:
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self.reset_s - self._clock())
