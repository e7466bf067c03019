"""The router against the real simulator over HTTP with the real openai SDK: failover, throttling,
breakers, content filter, stream drops and deadlines behave as docs/llm-router.md promises."""

import asyncio
import socket
import time

import pytest
from prometheus_client import REGISTRY

from chatfleet.chat.llm import (
    Completion,
    ContentFiltered,
    DeadlineExceeded,
    DeploymentConfig,
    LLMRouter,
    NoUpstreamAvailable,
    StreamDelta,
    StreamEnd,
    UpstreamRejected,
    UpstreamStreamBroken,
)

pytestmark = pytest.mark.service

MESSAGES = [
    {
        "role": "system",
        "content": "Answer from the sources and cite them.\nSources:\n"
        "[runbook.md#1]: Failover happens before the first token reaches the client. "
        "After that, a failure ends the stream with an error event.",
    },
    {"role": "user", "content": "When does failover happen?"},
]


async def _stream_all(router: LLMRouter) -> tuple[str, StreamEnd]:
    text, end = "", None
    async for item in router.stream(MESSAGES):
        if isinstance(item, StreamDelta):
            text += item.text
        else:
            end = item
    assert end is not None
    return text, end


async def test_healthy_pool_answers_and_reports(pool, admin, make_router) -> None:
    router = make_router(pool("a", "b"))
    completion = await router.complete(MESSAGES, max_tokens=100, temperature=0, seed=1)
    assert isinstance(completion, Completion)
    assert "[runbook.md#1]" in completion.text and completion.finish_reason == "stop"
    assert completion.output_tokens > 5 and completion.input_tokens > 10
    text, end = await _stream_all(router)
    assert text == completion.text
    assert end.finish_reason == "stop" and end.output_tokens == completion.output_tokens
    assert end.deployment in {"a", "b"} and end.ttft_s > 0
    assert router.ready()
    assert {d["name"] for d in router.snapshot()} == {"a", "b"}
    await router.aclose()
    assert not router.ready()


async def test_one_of_three_failing_no_request_fails(pool, admin, calls, make_router) -> None:
    admin.put("/_sim/faults/b", json={"error_rate": 1.0}).raise_for_status()
    router = make_router(pool("a", "b", "c"), breaker_failure_threshold=2, breaker_reset_s=60)
    results = await asyncio.gather(
        *(router.complete(MESSAGES) for _ in range(20)), *(_stream_all(router) for _ in range(20))
    )
    assert len(results) == 40
    served = {r.deployment if isinstance(r, Completion) else r[1].deployment for r in results}
    assert "b" not in served
    b_state = next(d for d in router.snapshot() if d["name"] == "b")
    assert b_state["breaker"] == "open"
    before = calls().get("b", 0)
    for _ in range(10):
        await router.complete(MESSAGES)
    assert calls().get("b", 0) == before, "an open breaker keeps traffic away"


async def test_one_of_three_throttled_no_request_fails(pool, admin, calls, make_router) -> None:
    admin.put("/_sim/faults/b", json={"force_429": True, "retry_after_ms": 5000}).raise_for_status()
    router = make_router(pool("a", "b", "c"))
    results = await asyncio.gather(*(router.complete(MESSAGES) for _ in range(30)))
    assert all(r.deployment in {"a", "c"} for r in results)
    assert calls()["b"] <= 30
    b_state = next(d for d in router.snapshot() if d["name"] == "b")
    assert b_state["cooldown_remaining_s"] > 2  # 5 s announced, minus the time the burst took
    throttled_calls = calls()["b"]
    for _ in range(10):
        await router.complete(MESSAGES)
    assert calls()["b"] == throttled_calls, "a cooling deployment gets no calls"
    assert REGISTRY.get_sample_value("chatfleet_upstream_cooldowns_total", {"deployment": "b"}) >= 1


async def test_all_throttled_raises_fast_with_earliest_retry(pool, admin, make_router) -> None:
    admin.put("/_sim/faults", json={"force_429": True, "retry_after_ms": 8000}).raise_for_status()
    admin.put("/_sim/faults/c", json={"force_429": True, "retry_after_ms": 5000}).raise_for_status()
    router = make_router(pool("a", "b", "c"))
    started = time.perf_counter()
    with pytest.raises(NoUpstreamAvailable) as caught:
        await router.complete(MESSAGES)
    elapsed = time.perf_counter() - started
    assert elapsed < 3.0, "no waiting for a cooldown, no hang"
    assert 5.0 - elapsed <= caught.value.retry_after_s <= 5.0, "the earliest retry time of the pool"
    assert "c: throttled" in str(caught.value), "the error says what happened"
    started = time.perf_counter()
    with pytest.raises(NoUpstreamAvailable):
        async for _ in router.stream(MESSAGES):
            pass
    assert time.perf_counter() - started < 0.5, "the pool is known to be cooling: no upstream call at all"


async def test_cooldown_honours_retry_after_ms(pool, admin, calls, make_router) -> None:
    admin.put("/_sim/faults/solo", json={"force_429": True, "retry_after_ms": 400}).raise_for_status()
    router = make_router(pool("solo"))
    with pytest.raises(NoUpstreamAvailable) as caught:
        await router.complete(MESSAGES)
    assert 0.3 < caught.value.retry_after_s <= 0.4
    assert calls()["solo"] == 1
    admin.delete("/_sim/faults/solo").raise_for_status()
    with pytest.raises(NoUpstreamAvailable):
        await router.complete(MESSAGES)  # still cooling: the upstream is not even asked
    assert calls()["solo"] == 1
    await asyncio.sleep(0.45)
    assert (await router.complete(MESSAGES)).deployment == "solo"


async def test_long_retry_after_is_capped(pool, admin, make_router) -> None:
    admin.put("/_sim/faults/solo", json={"force_429": True, "retry_after_ms": 600_000}).raise_for_status()
    router = make_router(pool("solo"), max_cooldown_s=2)
    with pytest.raises(NoUpstreamAvailable) as caught:
        await router.complete(MESSAGES)
    assert caught.value.retry_after_s <= 2


async def test_ptu_spills_over_to_standard_when_throttled(pool, admin, calls, make_router) -> None:
    deployments = pool(
        ptu={"priority": 1, "type": "ProvisionedManaged"}, paygo={"priority": 2, "type": "GlobalStandard"}
    )
    router = make_router(deployments)
    first = [await router.complete(MESSAGES, max_tokens=50) for _ in range(5)]
    assert {c.deployment for c in first} == {"ptu"}, "PTU first while it has capacity"
    admin.put("/_sim/limits/ptu", json={"tokens_per_minute": 400}).raise_for_status()
    spilled = [await router.complete(MESSAGES, max_tokens=50) for _ in range(10)]
    deployments_used = [c.deployment for c in spilled]
    assert deployments_used[0] == "ptu" and "paygo" in deployments_used
    assert all(d == "paygo" for d in deployments_used[deployments_used.index("paygo") :])
    throttled_once = 1
    assert calls()["ptu"] == len(first) + deployments_used.count("ptu") + throttled_once, (
        "once throttled, the PTU is left alone while it cools down"
    )


async def test_content_filter_on_prompt_is_not_retried(pool, admin, calls, make_router) -> None:
    admin.put("/_sim/faults", json={"content_filter": "prompt"}).raise_for_status()
    router = make_router(pool("a", "b", "c"))
    with pytest.raises(ContentFiltered) as caught:
        await router.complete(MESSAGES)
    assert caught.value.source == "prompt" and caught.value.categories == ["violence"]
    with pytest.raises(ContentFiltered):
        async for _ in router.stream(MESSAGES):
            pass
    assert sum(calls().values()) == 2, "one upstream call per request, no retry elsewhere"
    assert all(d["breaker"] == "closed" for d in router.snapshot())


async def test_content_filter_on_completion(pool, admin, calls, make_router) -> None:
    admin.put("/_sim/faults", json={"content_filter": "completion"}).raise_for_status()
    router = make_router(pool("a", "b"))
    with pytest.raises(ContentFiltered) as caught:
        await router.complete(MESSAGES)
    assert caught.value.source == "completion" and caught.value.categories == ["violence"]
    deltas = []
    with pytest.raises(ContentFiltered):
        async for item in router.stream(MESSAGES):
            deltas.append(item)
    assert deltas and all(isinstance(d, StreamDelta) for d in deltas)
    assert sum(calls().values()) == 2


async def test_mid_stream_drop_after_deltas_raises_stream_broken(pool, admin, make_router) -> None:
    admin.put("/_sim/faults", json={"drop_after_tokens": 4}).raise_for_status()
    router = make_router(pool("a", "b"))
    deltas: list[str] = []
    with pytest.raises(UpstreamStreamBroken):
        async for item in router.stream(MESSAGES):
            assert isinstance(item, StreamDelta)
            deltas.append(item.text)
    assert "".join(deltas) == "Failover happens before the"
    assert sum(d["failures"] for d in router.snapshot()) == 1
    assert sum(d["inflight"] for d in router.snapshot()) == 0


async def test_drop_before_first_token_fails_over(pool, admin, calls, make_router) -> None:
    admin.put("/_sim/faults/a", json={"drop_after_tokens": 0}).raise_for_status()
    router = make_router(pool("a", b={"priority": 2}))
    text, end = await _stream_all(router)
    assert end.deployment == "b" and "[runbook.md#1]" in text
    assert calls() == {"a": 1, "b": 1}


async def test_failing_upstream_during_stream_start_fails_over(pool, admin, make_router) -> None:
    admin.put("/_sim/faults/a", json={"error_rate": 1.0, "error_status": 503}).raise_for_status()
    router = make_router(pool("a", b={"priority": 2}))
    _, end = await _stream_all(router)
    assert end.deployment == "b"


async def test_deadline_is_respected(pool, admin, make_router) -> None:
    admin.put("/_sim/faults", json={"added_latency_ms": 3000}).raise_for_status()
    router = make_router(pool("a", "b"), deadline_s=0.5, request_timeout_s=10)
    started = time.perf_counter()
    with pytest.raises(DeadlineExceeded):
        await router.complete(MESSAGES)
    assert time.perf_counter() - started < 0.9
    started = time.perf_counter()
    with pytest.raises(DeadlineExceeded):
        async for _ in router.stream(MESSAGES):
            pass
    assert time.perf_counter() - started < 0.9
    assert all(d["breaker"] == "closed" and d["failures"] == 0 for d in router.snapshot()), (
        "running out of the caller's deadline is not the upstream's fault"
    )


async def test_slow_upstream_times_out_and_fails_over(pool, admin, make_router) -> None:
    admin.put("/_sim/faults/slow", json={"added_latency_ms": 3000}).raise_for_status()
    router = make_router(pool("slow", fast={"priority": 2}), request_timeout_s=0.3, deadline_s=5)
    started = time.perf_counter()
    completion = await router.complete(MESSAGES)
    assert completion.deployment == "fast"
    assert time.perf_counter() - started < 1.5
    assert next(d for d in router.snapshot() if d["name"] == "slow")["failures"] == 1


async def test_bad_request_is_not_retried(pool, admin, calls, make_router) -> None:
    router = make_router(pool("a", "b", "c"))
    with pytest.raises(UpstreamRejected) as caught:
        await router.complete(MESSAGES, temperature=9)
    assert caught.value.status_code == 400
    assert sum(calls().values()) == 1


async def test_half_open_probe_restores_a_recovered_deployment(pool, admin, make_router) -> None:
    admin.put("/_sim/faults/a", json={"error_rate": 1.0}).raise_for_status()
    router = make_router(pool("a", b={"priority": 2}), breaker_failure_threshold=1, breaker_reset_s=1.5)
    assert (await router.complete(MESSAGES)).deployment == "b"
    assert not router.snapshot()[0]["available"]
    admin.delete("/_sim/faults/a").raise_for_status()
    await asyncio.sleep(1.55)
    assert (await router.complete(MESSAGES)).deployment == "a", "the probe succeeds and closes the breaker"
    assert router.snapshot()[0]["breaker"] == "closed"


async def test_abandoned_stream_releases_its_slot(pool, admin, make_router) -> None:
    router = make_router(pool("a"))
    stream = router.stream(MESSAGES)
    first = await anext(stream)
    assert isinstance(first, StreamDelta)
    assert router.snapshot()[0]["inflight"] == 1
    await stream.aclose()
    assert router.snapshot()[0]["inflight"] == 0


async def test_metrics_count_outcomes(pool, admin, make_router) -> None:
    admin.put("/_sim/faults/m1", json={"error_rate": 1.0}).raise_for_status()
    router = make_router(pool("m1", m2={"priority": 2}))
    await router.complete(MESSAGES)
    await _stream_all(router)
    sample = REGISTRY.get_sample_value
    assert sample("chatfleet_upstream_requests_total", {"deployment": "m1", "outcome": "error"}) >= 1
    assert sample("chatfleet_upstream_requests_total", {"deployment": "m2", "outcome": "success"}) >= 2
    assert sample("chatfleet_upstream_ttft_seconds_count", {"deployment": "m2"}) >= 1
    assert sample("chatfleet_upstream_breaker_state", {"deployment": "m1"}) == 0


async def test_entra_token_credential_is_used_without_api_key(simulator, admin, make_router) -> None:
    from azure.core.credentials import AccessToken

    class StaticCredential:
        """A token credential like workload identity would give, with a fixed token."""

        def __init__(self) -> None:
            self.scopes: list[str] = []

        async def get_token(self, *scopes: str, **_: object) -> AccessToken:
            self.scopes.extend(scopes)
            return AccessToken("eyJ.test.token", int(time.time()) + 3600)

        async def close(self) -> None:
            return None

    credential = StaticCredential()
    config = DeploymentConfig(name="entra", endpoint=simulator.base_url, deployment="entra")
    router = make_router([config], credential=credential)
    assert (await router.complete(MESSAGES)).deployment == "entra"
    assert credential.scopes == ["https://cognitiveservices.azure.com/.default"]
    assert admin.get("/_sim/state").json()["deployments"]["entra"]["auth"] == {"bearer": 1}


async def test_unreachable_endpoint_fails_over_even_with_a_short_deadline(pool, admin, make_router) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    dead = DeploymentConfig(
        name="dead", endpoint=f"http://127.0.0.1:{dead_port}", deployment="x", api_key="k"
    )
    router = make_router([dead, *pool(alive={"priority": 2})], deadline_s=5, request_timeout_s=30)
    completion = await router.complete(MESSAGES)
    assert completion.deployment == "alive"
    dead_state = next(d for d in router.snapshot() if d["name"] == "dead")
    assert dead_state["failures"] == 1, "a refused connection is the upstream's failure, not the deadline"
