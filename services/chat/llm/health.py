"""Live state of one deployment that selection reads: in-flight calls, recent TTFT, the quota the upstream
last reported, a 429 cooldown and the circuit breaker. Mutated only from the event loop (no locks).
"""

from collections.abc import Callable
from typing import Any

from chatfleet.chat.llm.breaker import BreakerState, CircuitBreaker
from chatfleet.chat.llm.config import DeploymentConfig

TTFT_EWMA_ALPHA = 0.3
QUOTA_SIGNAL_TTL_S = 10.0


class DeploymentHealth:
    def __init__(
        self,
        config: DeploymentConfig,
        clock: Callable[[], float],
        *,
        breaker_failure_threshold: int = 3,
        breaker_reset_s: float = 15.0,
    ) -> None:
        self.config = config
        self._clock = clock
        self.breaker = CircuitBreaker(clock, breaker_failure_threshold, breaker_reset_s)
        self.inflight = 0
        self.ttft_ewma_s: float | None = None
        self.remaining_tokens: int | None = None
        self.remaining_requests: int | None = None
        self._quota_seen_at: float | None = None
        self.cooldown_until = 0.0
        self.successes = 0
        self.failures = 0
        self.throttles = 0

    @property
    def name(self) -> str:
        return self.config.name

    def cooling_down(self) -> bool:
        return self._clock() < self.cooldown_until

    def available(self) -> bool:
        return not self.cooling_down() and self.breaker.can_send()

    def seconds_until_available(self) -> float:
        """How long until this deployment may be tried again (0 when it may be tried now)."""
        waits = [max(0.0, self.cooldown_until - self._clock())]
        if self.breaker.state is BreakerState.OPEN:
            waits.append(self.breaker.seconds_until_probe())
        return max(waits)

    def start_cooldown(self, seconds: float) -> None:
        self.throttles += 1
        self.cooldown_until = max(self.cooldown_until, self._clock() + seconds)

    def observe_ttft(self, seconds: float) -> None:
        if self.ttft_ewma_s is None:
            self.ttft_ewma_s = seconds
        else:
            self.ttft_ewma_s += TTFT_EWMA_ALPHA * (seconds - self.ttft_ewma_s)

    def observe_quota(self, remaining_tokens: int | None, remaining_requests: int | None) -> None:
        if remaining_tokens is None and remaining_requests is None:
            return
        self.remaining_tokens = remaining_tokens
        self.remaining_requests = remaining_requests
        self._quota_seen_at = self._clock()

    def fresh_remaining_tokens(self) -> int | None:
        """The reported quota, while recent enough to still describe the upstream's sliding window."""
        if self._quota_seen_at is None or self._clock() - self._quota_seen_at > QUOTA_SIGNAL_TTL_S:
            return None
        return self.remaining_tokens

    def snapshot(self) -> dict[str, Any]:
        return {
            "name": self.config.name,
            "deployment": self.config.deployment,
            "endpoint": self.config.endpoint,
            "type": self.config.type,
            "priority": self.config.priority,
            "weight": self.config.weight,
            "available": self.available(),
            "inflight": self.inflight,
            "ttft_ewma_ms": None if self.ttft_ewma_s is None else round(self.ttft_ewma_s * 1000, 1),
            "remaining_tokens": self.remaining_tokens,
            "remaining_requests": self.remaining_requests,
            "cooldown_remaining_s": round(max(0.0, self.cooldown_until - self._clock()), 3),
            "breaker": self.breaker.state.name.lower(),
            "consecutive_failures": self.breaker.consecutive_failures,
            "successes": self.successes,
            "failures": self.failures,
            "throttles": self.throttles,
        }
