"""Upstream trouble and shutdown: clean problems before streaming, a well-formed error line after,
failover across deployments, budgets, and SIGTERM letting open streams finish."""

from __future__ import annotations

import asyncio
import json
import signal
import time

import httpx
import pytest

from chatfleet.chat.problems import PROBLEM_BASE
from chatfleet.chat.simulator.background import run_in_background
from chatfleet.chat.simulator.config import SimulatorConfig

pytestmark = pytest.mark.service

QUESTION = {"messages": [{"role": "user", "content": "How do I fix VPN error GP-4012?"}]}
HEADERS = {"X-Chatfleet-Tenant": "contoso"}


def test_all_deployments_throttled_is_503_with_retry_after(stack) -> None:
    stack.set_faults("throttled-a", force_429=True, retry_after_ms=4000)
    stack.set_faults("throttled-b", force_429=True, retry_after_ms=4000)
    pool = [stack.deployment("a", "throttled-a"), stack.deployment("b", "throttled-b")]
    with stack.serve(stack.settings(openai_deployments=pool)) as service:
        started = time.monotonic()
        response = httpx.post(f"{service.url}/chat/stream", json=QUESTION, headers=HEADERS, timeout=30)
        assert time.monotonic() - started < 10, "no hang while every upstream is throttled"
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == PROBLEM_BASE + "upstream-unavailable"
    assert int(response.headers["retry-after"]) >= 1


def test_one_of_three_upstreams_failing_fails_no_request(stack) -> None:
    stack.set_faults("broken", error_rate=1.0, error_status=503)
    pool = [
        stack.deployment("broken", "broken"),
        stack.deployment("ok1", "gpt-4o-mini"),
        stack.deployment("ok2", "gpt-4o-mini"),
    ]
    with stack.serve(stack.settings(openai_deployments=pool)) as service:
        statuses = [
            httpx.post(f"{service.url}/chat", json=QUESTION, headers=HEADERS, timeout=30).status_code
            for _ in range(12)
        ]
    assert statuses == [200] * 12


def test_mid_stream_drop_ends_with_error_line(stack, jsonl) -> None:
    stack.set_faults("dropping", drop_after_tokens=4)
    with stack.serve(stack.settings(openai_deployments=[stack.deployment("d", "dropping")])) as service:
        response = httpx.post(f"{service.url}/chat/stream", json=QUESTION, headers=HEADERS, timeout=30)
    assert response.status_code == 200
    lines = jsonl(response.text)
    assert lines[0]["delta"] == {"role": "assistant"}
    assert any(line.get("delta", {}).get("content") for line in lines[1:-1])
    assert set(lines[-1]) == {"error"} and "broke" in lines[-1]["error"]


def test_content_filter_is_a_clear_400(stack) -> None:
    stack.set_faults("filtered", content_filter="prompt")
    with stack.serve(stack.settings(openai_deployments=[stack.deployment("f", "filtered")])) as service:
        response = httpx.post(f"{service.url}/chat", json=QUESTION, headers=HEADERS, timeout=30)
    assert response.status_code == 400
    assert response.json()["type"] == PROBLEM_BASE + "content-filtered"
    assert "content filter" in response.json()["detail"]


def test_tenant_budget_exhausted_is_429_with_retry_after(stack) -> None:
    with stack.serve(stack.settings(tenant_tokens_per_minute=1500)) as service:
        statuses = []
        for _ in range(4):
            response = httpx.post(f"{service.url}/chat", json=QUESTION, headers=HEADERS, timeout=30)
            statuses.append(response.status_code)
        other = httpx.post(
            f"{service.url}/chat", json=QUESTION, headers={"X-Chatfleet-Tenant": "fabrikam"}, timeout=30
        )
    assert statuses[0] == 200 and statuses[-1] == 429
    assert response.json()["type"] == PROBLEM_BASE + "rate-limited"
    assert int(response.headers["retry-after"]) >= 1
    assert other.status_code == 200, "one tenant's budget never throttles another"


def test_a_tenant_override_lifts_that_tenants_budget_only(stack) -> None:
    settings = stack.settings(tenant_tokens_per_minute=1500, tenant_token_overrides={"contoso": 0})
    with stack.serve(settings) as service:

        def statuses(tenant: str) -> list[int]:
            headers = {"X-Chatfleet-Tenant": tenant}
            return [
                httpx.post(f"{service.url}/chat", json=QUESTION, headers=headers, timeout=30).status_code
                for _ in range(4)
            ]

        assert statuses("contoso") == [200] * 4, "0 in the overrides: contoso is unlimited"
        assert statuses("fabrikam")[-1] == 429, "fabrikam keeps the default budget"


async def test_sigterm_lets_open_streams_finish(stack) -> None:
    with run_in_background(
        SimulatorConfig(ttft_ms=50, tokens_per_second=25, min_chunk_interval_ms=20)
    ) as slow:
        env = {
            "CHATFLEET_OPENAI_DEPLOYMENTS": json.dumps(
                [{"name": "slow", "endpoint": slow.base_url, "deployment": "gpt-4o-mini", "apiKey": "k"}]
            ),
            "CHATFLEET_INDEX_PATH": str(stack.index),
            "CHATFLEET_DRAIN_DELAY_S": "3",  # margin for a loaded CI machine
            "CHATFLEET_SHUTDOWN_GRACE_S": "20",
        }
        with stack.serve_subprocess(env, "--dev") as service:
            proc, url = service.proc, service.url
            async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=30) as client:
                first_lines: asyncio.Queue[None] = asyncio.Queue()

                async def one_stream() -> list[dict]:
                    lines = []
                    async with client.stream("POST", "/chat/stream", json=QUESTION) as response:
                        assert response.status_code == 200
                        async for line in response.aiter_lines():
                            lines.append(json.loads(line))
                            if len(lines) == 2:
                                first_lines.put_nowait(None)
                    return lines

                streams = [asyncio.create_task(one_stream()) for _ in range(4)]
                for _ in streams:
                    await asyncio.wait_for(first_lines.get(), 20)
                proc.send_signal(signal.SIGTERM)
                await asyncio.sleep(0.3)
                try:
                    async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=5) as fresh:
                        ready = await fresh.get("/readyz")
                        refused = await fresh.post("/chat", json=QUESTION)
                except httpx.HTTPError as error:
                    raise AssertionError(
                        f"service gone after SIGTERM ({proc.poll()}):\n{service.log()}"
                    ) from error
                assert ready.status_code == 503, service.log()
                assert ready.json()["checks"]["not_draining"] is False
                assert refused.status_code == 503
                assert refused.json()["type"] == PROBLEM_BASE + "draining"
                results = await asyncio.gather(*streams)
            for lines in results:
                assert "error" not in lines[-1], lines[-1]
                assert lines[-1]["context"]["thoughts"][0]["props"]["finish_reason"] == "stop"
                assert sum(1 for line in lines if line.get("delta", {}).get("content")) > 3
            assert proc.wait(30) in (0, -signal.SIGTERM)
