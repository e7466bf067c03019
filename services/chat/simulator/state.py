"""Run-time state of the simulator: faults and limits (changeable through the admin API) and counters.

Everything is per deployment with a global default, so a test can break one upstream of a pool while the
others stay healthy, then read back how many calls each deployment received.
"""

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from chatfleet.chat.simulator.config import FaultSettings, LimitSettings, SimulatorConfig
from chatfleet.chat.simulator.ratelimit import Admission, SlidingWindowQuota

UNLIMITED_REPORTED = 2**31 - 1


@dataclass
class DeploymentCounters:
    requests: int = 0
    inflight: int = 0
    responses: Counter[str] = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    streams_dropped: int = 0
    auth_headers: Counter[str] = field(default_factory=Counter)
    last_traceparent: str | None = None  # W3C trace context of the latest call: joins a caller's trace

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "inflight": self.inflight,
            "responses": dict(self.responses),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "streams_dropped": self.streams_dropped,
            "auth": dict(self.auth_headers),
            "last_traceparent": self.last_traceparent,
        }


class SimulatorState:
    """Mutable state shared by all requests of one simulator app (single event loop: no locks needed)."""

    def __init__(self, config: SimulatorConfig, clock: Any = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.rng = random.Random(config.seed)  # noqa: S311 - fault dice, not security
        self.global_faults = config.faults
        self.deployment_faults: dict[str, FaultSettings] = {}
        self.global_limits = config.limits
        self.deployment_limits: dict[str, LimitSettings] = {}
        self.counters: dict[str, DeploymentCounters] = {}
        self._quotas: dict[str, SlidingWindowQuota] = {}

    def faults_for(self, deployment: str) -> FaultSettings:
        return self.deployment_faults.get(deployment, self.global_faults)

    def limits_for(self, deployment: str) -> LimitSettings:
        return self.deployment_limits.get(deployment, self.global_limits)

    def counters_for(self, deployment: str) -> DeploymentCounters:
        return self.counters.setdefault(deployment, DeploymentCounters())

    def set_faults(self, faults: FaultSettings, deployment: str | None) -> None:
        if deployment is None:
            self.global_faults = faults
        else:
            self.deployment_faults[deployment] = faults

    def clear_faults(self) -> None:
        self.global_faults = FaultSettings()
        self.deployment_faults.clear()

    def set_limits(self, limits: LimitSettings, deployment: str | None) -> None:
        """New limits start with an empty window (like a redeployed quota)."""
        if deployment is None:
            self.global_limits = limits
            self._quotas.clear()
        else:
            self.deployment_limits[deployment] = limits
            self._quotas.pop(deployment, None)

    def restore_limits(self) -> None:
        """Back to the start-up limits, without per-deployment overrides."""
        self.global_limits = self.config.limits
        self.deployment_limits.clear()
        self._quotas.clear()

    def _quota(self, deployment: str) -> SlidingWindowQuota:
        quota = self._quotas.get(deployment)
        if quota is None:
            limits = self.limits_for(deployment)
            quota = SlidingWindowQuota(limits.tokens_per_minute, limits.requests_per_minute)
            self._quotas[deployment] = quota
        return quota

    def admit(self, deployment: str, cost: int) -> Admission:
        admission = self._quota(deployment).admit(self.clock(), cost)
        if admission.remaining_tokens is None:
            admission.remaining_tokens = UNLIMITED_REPORTED
        if admission.remaining_requests is None:
            admission.remaining_requests = UNLIMITED_REPORTED
        return admission

    def peek_admission(self, deployment: str) -> Admission:
        """The quota as it stands, for a refusal that charges nothing (a forced 429)."""
        tokens_left, requests_left = self._quota(deployment).peek(self.clock())
        return Admission(
            False,
            UNLIMITED_REPORTED if tokens_left is None else tokens_left,
            UNLIMITED_REPORTED if requests_left is None else requests_left,
        )

    def reset_counters(self) -> None:
        self.counters.clear()
        self._quotas.clear()

    def snapshot(self) -> dict[str, Any]:
        now = self.clock()
        deployments = {}
        for name in sorted(set(self.counters) | set(self.deployment_faults) | set(self.deployment_limits)):
            tokens_left, requests_left = self._quota(name).peek(now)
            deployments[name] = {
                **self.counters_for(name).as_dict(),
                "faults": self.faults_for(name).model_dump(),
                "limits": self.limits_for(name).model_dump(),
                "remaining_tokens": tokens_left,
                "remaining_requests": requests_left,
            }
        return {
            "config": self.config.model_dump(exclude={"faults", "limits"}),
            "faults": {"global": self.global_faults.model_dump()},
            "limits": {"global": self.global_limits.model_dump()},
            "deployments": deployments,
        }
