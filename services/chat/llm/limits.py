"""The time limits every upstream attempt works within, fixed when the router is built: the per-request
timeout, the whole-request deadline and the bounds of a 429 cooldown. One frozen object, so the attempt
modules read the router's settings without reaching into the router."""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AttemptLimits:
    clock: Callable[[], float]
    request_timeout_s: float
    deadline_s: float
    max_cooldown_s: float
    default_cooldown_s: float

    def attempt_timeout(self, deadline: float) -> float:
        """The per-request timeout, shortened to what is left of the whole-request deadline."""
        return min(self.request_timeout_s, deadline - self.clock())
