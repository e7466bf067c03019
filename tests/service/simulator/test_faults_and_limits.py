"""Quotas answer 429 like Azure, and faults change at run time through the admin API while serving."""

import asyncio
import json
import time

import httpx
import openai
import pytest
from openai import AsyncAzureOpenAI

from chatfleet.chat.simulator.background import RunningSimulator, run_in_background
from chatfleet.chat.simulator.config import SimulatorConfig
from chatfleet.contracts.azure_openai import DEFAULT_API_VERSION

pytestmark = pytest.mark.service

QUESTION = [
    {"role": "system", "content": "Sources:\n[a.md#0]: Streams are paced by the simulator at a fixed rate."},
    {"role": "user", "content": "How are streams paced?"},
]


def _url(deployment: str) -> str:
    return f"/openai/deployments/{deployment}/chat/completions?api-version={DEFAULT_API_VERSION}"


async def _post(simulator, deployment: str, **body) -> httpx.Response:
    async with httpx.AsyncClient(base_url=simulator.base_url, timeout=10) as http:
        return await http.post(
            _url(deployment), headers={"api-key": "k"}, json={"messages": QUESTION, **body}
        )


async def test_rpm_limit_answers_429_with_azure_headers(simulator, admin) -> None:
    admin.put("/_sim/limits/limited", json={"requests_per_minute": 2}).raise_for_status()
    first = await _post(simulator, "limited")
    assert first.status_code == 200 and first.headers["x-ratelimit-remaining-requests"] == "1"
    assert (await _post(simulator, "limited")).status_code == 200
    refused = await _post(simulator, "limited")
    assert refused.status_code == 429
    assert 30_000 < int(refused.headers["retry-after-ms"]) <= 60_000  # the first charge leaves the window
    assert int(refused.headers["retry-after"]) == -(-int(refused.headers["retry-after-ms"]) // 1000)
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert "x-ratelimit-remaining-tokens" in refused.headers
    other = await _post(simulator, "unlimited")  # limits are per deployment
    assert other.status_code == 200


async def test_tpm_charges_prompt_plus_max_tokens(simulator, admin) -> None:
    admin.put("/_sim/limits/tpm", json={"tokens_per_minute": 500}).raise_for_status()
    first = await _post(simulator, "tpm", max_tokens=200)
    remaining = int(first.headers["x-ratelimit-remaining-tokens"])
    assert 200 < remaining < 300  # 500 - (prompt + 200)
    refused = await _post(simulator, "tpm", max_tokens=400)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "429"


async def test_faults_change_at_run_time(simulator, admin) -> None:
    assert (await _post(simulator, "gpt")).status_code == 200
    admin.put("/_sim/faults/gpt", json={"error_rate": 1.0, "error_status": 500}).raise_for_status()
    assert (await _post(simulator, "gpt")).status_code == 500
    assert (await _post(simulator, "other")).status_code == 200, "per-deployment faults stay local"
    admin.put("/_sim/faults", json={"force_429": True, "retry_after_ms": 2500}).raise_for_status()
    throttled = await _post(simulator, "other")
    assert throttled.status_code == 429 and throttled.headers["retry-after-ms"] == "2500"
    assert throttled.headers["retry-after"] == "3"
    admin.delete("/_sim/faults").raise_for_status()
    assert (await _post(simulator, "gpt")).status_code == 200
    state = admin.get("/_sim/state").json()["deployments"]
    assert state["gpt"]["responses"] == {"200": 2, "500": 1}


async def test_bad_fault_settings_are_refused(simulator, admin) -> None:
    response = admin.put("/_sim/faults", json={"error_rate": 2})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "error_rate"
    assert admin.put("/_sim/faults", json={"no_such_fault": 1}).status_code == 422


async def test_added_latency_delays_the_answer(simulator, admin) -> None:
    admin.put("/_sim/faults/slow", json={"added_latency_ms": 300}).raise_for_status()
    started = time.perf_counter()
    assert (await _post(simulator, "slow")).status_code == 200
    assert time.perf_counter() - started >= 0.3


async def test_prompt_content_filter_is_a_400_with_azure_details(simulator, admin) -> None:
    flagged = [{"role": "user", "content": "please SIMULATE_CONTENT_FILTER now"}]
    async with httpx.AsyncClient(base_url=simulator.base_url) as http:
        response = await http.post(_url("gpt"), headers={"api-key": "k"}, json={"messages": flagged})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "content_filter"
    assert error["innererror"]["content_filter_result"]["violence"]["filtered"] is True


async def test_completion_content_filter_ends_the_answer(simulator, admin) -> None:
    admin.put("/_sim/faults", json={"content_filter": "completion"}).raise_for_status()
    client = AsyncAzureOpenAI(
        azure_endpoint=simulator.base_url, api_key="k", api_version=DEFAULT_API_VERSION, max_retries=0
    )
    answer = await client.chat.completions.create(model="gpt", messages=QUESTION)
    assert answer.choices[0].finish_reason == "content_filter"
    stream = await client.chat.completions.create(model="gpt", messages=QUESTION, stream=True)
    reasons = [c.choices[0].finish_reason async for c in stream if c.choices and c.choices[0].finish_reason]
    assert reasons == ["content_filter"]
    await client.close()


async def test_mid_stream_drop_cuts_the_connection(simulator, admin) -> None:
    admin.put("/_sim/faults", json={"drop_after_tokens": 3}).raise_for_status()
    received: list[str] = []
    async with httpx.AsyncClient(base_url=simulator.base_url) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            async with http.stream(
                "POST", _url("gpt"), headers={"api-key": "k"}, json={"messages": QUESTION, "stream": True}
            ) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: {"):
                        received.append(line)
    contents = [json.loads(line[6:])["choices"] for line in received]
    text = "".join(c[0]["delta"].get("content") or "" for c in contents if c)
    assert text == "Streams are paced"
    assert "[DONE]" not in received
    assert admin.get("/_sim/state").json()["deployments"]["gpt"]["streams_dropped"] == 1


async def test_sdk_sees_a_drop_as_an_error(simulator, admin) -> None:
    admin.put("/_sim/faults", json={"drop_after_tokens": 2}).raise_for_status()
    client = AsyncAzureOpenAI(
        azure_endpoint=simulator.base_url, api_key="k", api_version=DEFAULT_API_VERSION, max_retries=0
    )
    stream = await client.chat.completions.create(model="gpt", messages=QUESTION, stream=True)
    with pytest.raises(openai.APIConnectionError):
        async for _ in stream:
            pass
    await client.close()


def test_ttft_grows_with_concurrency() -> None:
    """--ttft-per-inflight-ms gives load tests a knee: later concurrent requests wait longer."""
    config = SimulatorConfig(ttft_ms=10, ttft_per_inflight_ms=15, tokens_per_second=1000)
    with run_in_background(config) as sim:

        async def timed(http: httpx.AsyncClient) -> float:
            started = time.perf_counter()
            response = await http.post(_url("gpt"), headers={"api-key": "k"}, json={"messages": QUESTION})
            assert response.status_code == 200
            return time.perf_counter() - started

        async def burst() -> list[float]:
            async with httpx.AsyncClient(base_url=sim.base_url, timeout=10) as http:
                return await asyncio.gather(*(timed(http) for _ in range(20)))

        durations = sorted(asyncio.run(burst()))
    assert durations[-1] > 0.010 + 15 * 0.015  # the 20th waited for ~19 in-flight requests
    assert durations[0] < durations[-1]


async def _inflight_reaches(sim: RunningSimulator, deployment: str, count: int, within_s: float = 5.0) -> int:
    """The deployment's in-flight count as soon as it equals `count`, else its value after `within_s`."""
    deadline = time.monotonic() + within_s
    while True:  # the simulator's own loop runs in another thread: nothing here to await but time
        inflight = sim.state.counters_for(deployment).inflight
        if inflight == count or time.monotonic() > deadline:
            return inflight
        await asyncio.sleep(0.02)


async def test_client_disconnect_ends_the_stream_and_its_inflight_slot() -> None:
    """In-flight counts drive --ttft-per-inflight-ms, so an abandoned stream must not stay counted."""
    config = SimulatorConfig(ttft_ms=0, tokens_per_second=5)  # a ~3 s answer
    with run_in_background(config) as sim:
        async with (
            httpx.AsyncClient(base_url=sim.base_url) as http,
            http.stream(
                "POST", _url("slow"), headers={"api-key": "k"}, json={"messages": QUESTION, "stream": True}
            ) as response,
        ):
            async for line in response.aiter_lines():
                if '"content":"S' in line:
                    break
            assert sim.state.counters_for("slow").inflight == 1
        assert await _inflight_reaches(sim, "slow", 0) == 0
        counters = sim.state.counters_for("slow")
    assert counters.completion_tokens < 5, "generation stopped when the client left"


@pytest.mark.parametrize("stream", [True, False])
async def test_a_call_abandoned_before_its_first_token_frees_its_slot_at_once(stream: bool) -> None:
    """The chat service abandons answers its screen refused; like Azure, the simulator stops the work then,
    instead of counting the call in flight (and slowing every other call) until its TTFT would have passed."""
    config = SimulatorConfig(ttft_ms=30_000, tokens_per_second=1000)
    with run_in_background(config) as sim:
        async with httpx.AsyncClient(base_url=sim.base_url, timeout=10) as http:
            body = {"messages": QUESTION, "stream": stream}
            call = asyncio.create_task(http.post(_url("abandoned"), headers={"api-key": "k"}, json=body))
            assert await _inflight_reaches(sim, "abandoned", 1) == 1
            call.cancel()  # closes the connection mid-request
            with pytest.raises(asyncio.CancelledError):
                await call
        assert await _inflight_reaches(sim, "abandoned", 0) == 0
        counters = sim.state.counters_for("abandoned")
    assert counters.responses == {"499": 1}
    assert counters.completion_tokens == 0
