"""Per-process operator state shared by all handlers (kept in kopf's `memo`)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from chatfleet.controller.kube import KubeClient
from chatfleet.controller.rollout.bake import PrometheusBakeSource
from chatfleet.controller.rollout.runner import GateRunner
from chatfleet.controller.settings import OperatorSettings

AppKey = tuple[str, str]  # (namespace, name)
ChildKey = tuple[str, str]  # (kind, name)


@dataclass
class OperatorContext:
    """API client, gate runner, and the small caches that let child events skip needless reconciles."""

    settings: OperatorSettings
    kube: KubeClient
    runner: GateRunner
    executor: ThreadPoolExecutor
    desired: dict[AppKey, dict[ChildKey, str]] = field(default_factory=dict)  # JSON: ~5x less memory
    deployment_status: dict[AppKey, dict[str, Any]] = field(default_factory=dict)
    pending: set[AppKey] = field(default_factory=set)
    bake_source: PrometheusBakeSource | None = None  # set when the operator knows a Prometheus
    reconciles: int = 0
    oidc_issuer: str | None = None  # the cluster's service-account issuer, shown in every app's status
    _locks: dict[AppKey, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def lock_for(self, key: AppKey) -> threading.Lock:
        """One reconcile at a time per resource, whichever path (change, timer, child event) asks."""
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def forget(self, key: AppKey) -> None:
        with self._guard:
            self._locks.pop(key, None)
        self.desired.pop(key, None)
        self.deployment_status.pop(key, None)
