"""Operator settings from `CHATFLEET_OPERATOR_*` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OperatorSettings(BaseSettings):
    """Knobs of `chatfleet operator run`; defaults suit a production cluster, tests shorten the timers."""

    model_config = SettingsConfigDict(env_prefix="CHATFLEET_OPERATOR_", extra="ignore")

    gate_runner: Literal["job", "local"] = Field(
        "job", description="job: load test as a Kubernetes Job; local: a local `chatfleet loadtest` process."
    )
    loadtest_image: str | None = Field(None, description="Image of gate Jobs when the spec names none.")
    local_gate_host: str | None = Field(
        None,
        description="Target URL of local gate runs unless the chatfleet.dev/loadtest-host annotation says.",
    )
    prometheus_url: str | None = Field(
        None,
        description="Prometheus that scrapes the chat pods, e.g. http://prometheus-operated.monitoring:9090; "
        "needed to bake promoted revisions (spec.rollout.bake).",
    )
    dev_mode: bool = Field(
        False,
        description="Local clusters only (`chatfleet up`): every chat pod runs in dev mode without sign-in "
        "(tenant from the X-Chatfleet-Tenant header) and calls its Azure OpenAI deployments with a "
        "placeholder key instead of workload identity (the simulator). Never in a shared or production "
        "cluster.",
    )
    resync_seconds: float = Field(300.0, gt=0, description="Periodic drift check of every resource.")
    gate_poll_seconds: float = Field(5.0, gt=0, description="How often a running gate is polled.")
    debounce_seconds: float = Field(0.5, ge=0, description="Child events of one resource within this merge.")
    max_workers: int = Field(16, ge=1, description="Threads running reconciles (and API connections).")
    retry_seconds: float = Field(10.0, gt=0, description="Delay before a failed reconcile is retried.")
