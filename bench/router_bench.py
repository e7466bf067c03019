"""What the LLM router adds to time-to-first-token over calling the deployment with the SDK directly.

Starts `chatfleet simulator` as its own process, then for each concurrency C runs C concurrent streams
twice per round, once through `LLMRouter.stream` and once with a bare `AsyncAzureOpenAI` stream (same
SDK with its default httpx transport and typed chunks, as an application would call it), alternating for
R rounds, and prints TTFT p50/p99 of both and the difference. A negative difference means the router's
choices (aiohttp transport, SSE lines parsed without a pydantic model per chunk) save more than its
bookkeeping costs. cpu/stream is this (client) process's CPU time per stream, the number that decides
how many concurrent streams one chat-service worker can carry.

    .venv/bin/python bench/router_bench.py [--concurrency 1 64 256] [--rounds 5] [--ttft-ms 50]
"""

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import time

from openai import AsyncAzureOpenAI

from chatfleet.chat.llm import DeploymentConfig, LLMRouter, StreamDelta
from chatfleet.contracts.azure_openai import DEFAULT_API_VERSION

MESSAGES = [
    {"role": "system", "content": "Sources:\n[bench.md#0]: The router adds little latency to each stream."},
    {"role": "user", "content": "How much latency does the router add?"},
]


def start_simulator(ttft_ms: float) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "chatfleet", "simulator", "--port", "0", "--ttft-ms", str(ttft_ms)]
    process = subprocess.Popen([*command, "--tokens-per-second", "200"], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    match = re.search(r"http://[\d.]+:\d+", process.stdout.readline())
    if not match:
        process.kill()
        raise SystemExit("simulator did not start")
    return process, match.group(0)


async def direct_ttft(client: AsyncAzureOpenAI) -> float:
    started = time.perf_counter()
    ttft = 0.0
    stream = await client.chat.completions.create(model="gpt", messages=MESSAGES, stream=True, max_tokens=512)  # type: ignore[arg-type]
    async for chunk in stream:
        if not ttft and chunk.choices and chunk.choices[0].delta.content:
            ttft = time.perf_counter() - started
    return ttft


async def router_ttft(router: LLMRouter) -> float:
    started = time.perf_counter()
    ttft = 0.0
    async for item in router.stream(MESSAGES):
        if not ttft and isinstance(item, StreamDelta):
            ttft = time.perf_counter() - started
    return ttft


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def run(base_url: str, levels: list[int], rounds: int) -> None:
    config = DeploymentConfig(name="sim", endpoint=base_url, deployment="gpt", api_key="bench")
    router = LLMRouter([config])
    client = AsyncAzureOpenAI(
        azure_endpoint=base_url, api_key="bench", api_version=DEFAULT_API_VERSION, max_retries=0
    )
    warm = (*(router_ttft(router) for _ in range(8)), *(direct_ttft(client) for _ in range(8)))
    await asyncio.gather(*warm, return_exceptions=True)
    print(
        f"{'streams':>8} {'direct p50':>10} {'router p50':>10} {'added p50':>9} {'direct p99':>10} "
        f"{'router p99':>10} {'added p99':>9} {'errors d/r':>10} {'cpu/stream d/r':>14}   (ms)"
    )
    for concurrency in levels:
        direct: list[float] = []
        routed: list[float] = []
        errors = [0, 0]
        cpu = [0.0, 0.0]
        sides = ((direct, lambda: direct_ttft(client)), (routed, lambda: router_ttft(router)))
        for _ in range(rounds):
            for side, (results, one) in enumerate(sides):
                cpu_before = time.process_time()
                outcomes = await asyncio.gather(*(one() for _ in range(concurrency)), return_exceptions=True)
                results += [o for o in outcomes if isinstance(o, float)]
                errors[side] += sum(1 for o in outcomes if not isinstance(o, float))
                cpu[side] += (time.process_time() - cpu_before) * 1000 / (concurrency * rounds)
        d50, r50 = statistics.median(direct) * 1000, statistics.median(routed) * 1000
        d99, r99 = percentile(direct, 0.99) * 1000, percentile(routed, 0.99) * 1000
        print(
            f"{concurrency:>8} {d50:>10.1f} {r50:>10.1f} {r50 - d50:>9.1f} "
            f"{d99:>10.1f} {r99:>10.1f} {r99 - d99:>9.1f} {errors[0]:>5}/{errors[1]:<4} "
            f"{cpu[0]:>7.1f}/{cpu[1]:<6.1f}"
        )
    await router.aclose()
    await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64, 256])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ttft-ms", type=float, default=50.0)
    args = parser.parse_args()
    process, base_url = start_simulator(args.ttft_ms)
    try:
        print(f"simulator {base_url}  ttft={args.ttft_ms:g} ms  rounds={args.rounds}")
        asyncio.run(run(base_url, args.concurrency, args.rounds))
    finally:
        process.terminate()
        process.wait(10)


if __name__ == "__main__":
    main()
