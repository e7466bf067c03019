"""One simulator process sustains hundreds of concurrent streams with no error (bounded and quick)."""

import asyncio

import aiohttp
import pytest

from chatfleet.chat.simulator.background import run_in_background
from chatfleet.chat.simulator.config import SimulatorConfig
from chatfleet.contracts.azure_openai import DEFAULT_API_VERSION

pytestmark = pytest.mark.service

STREAMS = 256
MESSAGES = [
    {
        "role": "system",
        "content": "Sources:\n[ops.md#4]: Each replica serves many concurrent streams at once.",
    },
    {"role": "user", "content": "How many concurrent streams does a replica serve?"},
]


async def _one_stream(session: aiohttp.ClientSession, url: str) -> tuple[int, bool]:
    content_chunks, done = 0, False
    async with session.post(
        url, headers={"api-key": "k"}, json={"messages": MESSAGES, "stream": True}
    ) as response:
        response.raise_for_status()
        async for line in response.content:
            if line.strip() == b"data: [DONE]":
                done = True
            elif b'"content":"' in line and b'"content":""' not in line:
                content_chunks += 1
    return content_chunks, done


def test_256_concurrent_streams_complete() -> None:
    config = SimulatorConfig(ttft_ms=50, tokens_per_second=100)
    with run_in_background(config) as sim:
        url = f"{sim.base_url}/openai/deployments/gpt/chat/completions?api-version={DEFAULT_API_VERSION}"

        async def run() -> list[tuple[int, bool]]:
            timeout = aiohttp.ClientTimeout(total=60)
            async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), timeout=timeout
            ) as session:
                return await asyncio.gather(*(_one_stream(session, url) for _ in range(STREAMS)))

        results = asyncio.run(run())
        state = sim.state.snapshot()["deployments"]["gpt"]
    assert all(done for _, done in results)
    assert all(chunks > 1 for chunks, _ in results), "tokens arrive in several chunks, not one buffer"
    assert state["responses"] == {"200": STREAMS}
    assert state["inflight"] == 0
