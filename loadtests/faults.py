"""Breaks one upstream deployment mid-run through the simulator's admin API (`/_sim`), for `failover`.

Only the deployment this run broke is restored afterwards, so parallel runs against other deployments of
the same simulator keep their own faults. Without an explicit deployment, the busiest one is broken:
failing the upstream the router prefers is the failover worth testing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger(__name__)

FAULTS = {
    "error": {"error_rate": 1.0, "error_status": 503},
    "throttle": {"force_429": True, "retry_after_ms": 5000},
}
ADMIN_TIMEOUT_S = 5.0
POLL_S = 0.5


class FaultInjectionError(RuntimeError):
    """The simulator's admin API refused or could not be reached."""


@dataclass
class FaultInjector:
    admin_url: str
    kind: str
    deployment: str = ""
    injected: list[dict[str, Any]] = field(default_factory=list)

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.admin_url.rstrip("/"), timeout=ADMIN_TIMEOUT_S)

    def busiest_deployment(self, wait_s: float = 0.0) -> str:
        """The deployment with the most calls; waits up to `wait_s` for the first call (a cold service)."""
        deadline = time.monotonic() + wait_s
        while True:
            with self._client() as client:
                state = self._ok(client.get("/_sim/state")).json()
            deployments: dict[str, Any] = state.get("deployments", {})
            if deployments:
                return max(deployments, key=lambda name: deployments[name].get("requests", 0))
            if time.monotonic() >= deadline:
                raise FaultInjectionError(
                    "the simulator has served no deployment yet; pass --fault-deployment"
                )
            time.sleep(POLL_S)

    def inject(self, at_seconds: float, wait_s: float = 0.0) -> dict[str, Any]:
        deployment = self.deployment or self.busiest_deployment(wait_s)
        with self._client() as client:
            self._ok(client.put(f"/_sim/faults/{deployment}", json=FAULTS[self.kind]))
        record = {"deployment": deployment, "kind": self.kind, "atSeconds": round(at_seconds, 1)}
        self.injected.append(record)
        log.warning("chatfleet failover: upstream %s now answers %s", deployment, self.kind)
        return record

    def restore(self) -> None:
        with self._client() as client:
            for record in self.injected:
                self._ok(client.delete(f"/_sim/faults/{record['deployment']}"))

    @staticmethod
    def _ok(response: httpx.Response) -> httpx.Response:
        if response.status_code >= 400:
            raise FaultInjectionError(
                f"simulator admin {response.request.method} {response.request.url.path} answered "
                f"{response.status_code}: {response.text[:200]}"
            )
        return response
