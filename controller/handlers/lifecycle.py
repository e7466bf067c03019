"""Operator start-up and shutdown: kopf settings, the API client, the gate runner."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import kopf

from chatfleet.controller.context import OperatorContext
from chatfleet.controller.kube import KubeClient, load_api_client
from chatfleet.controller.rollout.bake import PrometheusBakeSource
from chatfleet.controller.rollout.job_runner import JobRunner
from chatfleet.controller.rollout.local_runner import LocalProcessRunner
from chatfleet.controller.rollout.runner import GateRunner
from chatfleet.controller.settings import OperatorSettings

log = logging.getLogger("chatfleet.operator")


def configure(kopf_settings: kopf.OperatorSettings, settings: OperatorSettings) -> OperatorContext:
    """kopf keeps its bookkeeping in chatfleet.dev annotations (the schema prunes unknown status fields)."""
    kopf_settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="chatfleet.dev")
    kopf_settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="chatfleet.dev", key="last-handled-configuration"
    )
    kopf_settings.persistence.finalizer = "chatfleet.dev/operator"
    kopf_settings.posting.level = logging.WARNING  # handler failures become Events; routine success not
    kopf_settings.execution.max_workers = settings.max_workers
    executor = ThreadPoolExecutor(max_workers=settings.max_workers, thread_name_prefix="reconcile")
    kopf_settings.execution.executor = executor
    kopf_settings.networking.request_timeout = 60
    kopf_settings.watching.server_timeout = 300
    kube = KubeClient(load_api_client(pool_size=settings.max_workers + 4))
    if settings.dev_mode:
        log.warning(
            "CHATFLEET_OPERATOR_DEV_MODE is on: chat pods run without sign-in or Azure identity (local only)"
        )
    runner: GateRunner = (
        JobRunner(kube)
        if settings.gate_runner == "job"
        else LocalProcessRunner(read_config_map=lambda ns, name: kube.get("ConfigMap", ns, name))
    )
    bake_source = PrometheusBakeSource(settings.prometheus_url) if settings.prometheus_url else None
    return OperatorContext(
        settings=settings,
        kube=kube,
        runner=runner,
        executor=executor,
        bake_source=bake_source,
        oidc_issuer=kube.oidc_issuer(),
    )


def shutdown(ctx: OperatorContext) -> None:
    """Stops local gate runs and logs the API call totals (the benchmark reads this line)."""
    calls = dict(sorted(ctx.kube.calls.items()))
    log.info(
        "operator stats: reconciles=%d reads=%d writes=%d calls=%s",
        ctx.reconciles,
        ctx.kube.reads,
        ctx.kube.writes,
        calls,
    )
    if isinstance(ctx.runner, LocalProcessRunner):
        ctx.runner.close()
    ctx.executor.shutdown(wait=False, cancel_futures=True)
