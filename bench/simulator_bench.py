"""How many concurrent streams one simulator process sustains, and how faithful its timing stays.

Starts `chatfleet simulator` as its own process on a free loopback port (so client CPU does not count
against it), opens C concurrent streams for each C, and prints a table: wall time, streams/s, client-seen
TTFT p50/p99 against the configured TTFT, token pace, errors, and the simulator's CPU time.

    .venv/bin/python bench/simulator_bench.py [--concurrency 64 256 512] [--ttft-ms 100] [--tps 50]
"""

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import time

import aiohttp
import psutil

from chatfleet.contracts.azure_openai import DEFAULT_API_VERSION

MESSAGES = [
    {
        "role": "system",
        "content": "Sources:\n[ops.md#4]: Each replica of the chat service serves many concurrent streams. "
        "Streams are paced by the upstream model at a steady rate of tokens per second. "
        "The autoscaler adds replicas when in-flight streams per replica exceed the target.",
    },
    {"role": "user", "content": "How does the autoscaler react to concurrent streams per replica?"},
]


def start_simulator(ttft_ms: float, tps: float) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chatfleet",
            "simulator",
            "--port",
            "0",
            "--ttft-ms",
            str(ttft_ms),
            "--tokens-per-second",
            str(tps),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"http://[\d.]+:\d+", line)
    if not match:
        process.kill()
        raise SystemExit(f"simulator did not start: {line!r}")
    return process, match.group(0)


async def one_stream(session: aiohttp.ClientSession, url: str) -> tuple[float, float, int]:
    """(TTFT seconds, total seconds, content chunks) of one streamed answer."""
    started = time.perf_counter()
    first = 0.0
    chunks = 0
    body = {"messages": MESSAGES, "stream": True, "max_tokens": 400}
    async with session.post(url, headers={"api-key": "bench"}, json=body) as response:
        response.raise_for_status()
        async for line in response.content:
            if b'"content":"' in line and b'"content":""' not in line:
                chunks += 1
                if not first:
                    first = time.perf_counter() - started
    return first, time.perf_counter() - started, chunks


async def run_level(base_url: str, concurrency: int) -> dict[str, float]:
    """aiohttp rather than httpx as the client: httpx's pool spends more CPU than the server under test."""
    url = f"{base_url}/openai/deployments/gpt/chat/completions?api-version={DEFAULT_API_VERSION}"
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
        started = time.perf_counter()
        calls = (one_stream(session, url) for _ in range(concurrency))
        results = await asyncio.gather(*calls, return_exceptions=True)
        wall = time.perf_counter() - started
    ok = [r for r in results if isinstance(r, tuple)]
    failures = [r for r in results if not isinstance(r, tuple)]
    if failures:
        print(f"  first error: {failures[0]!r}", file=sys.stderr)
    ttfts = sorted(r[0] for r in ok)
    return {
        "wall": wall,
        "errors": len(results) - len(ok),
        "ttft_p50": statistics.median(ttfts) if ttfts else float("nan"),
        "ttft_p99": ttfts[max(0, int(len(ttfts) * 0.99) - 1)] if ttfts else float("nan"),
        "duration_p50": statistics.median(r[1] for r in ok) if ok else float("nan"),
        "streams_per_s": len(ok) / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64, 256, 512])
    parser.add_argument("--ttft-ms", type=float, default=100.0)
    parser.add_argument("--tps", type=float, default=50.0)
    args = parser.parse_args()
    process, base_url = start_simulator(args.ttft_ms, args.tps)
    sim = psutil.Process(process.pid)
    try:
        print(f"simulator {base_url}  ttft={args.ttft_ms:g} ms  tokens/s per stream={args.tps:g}")
        header = f"{'streams':>8} {'errors':>6} {'wall s':>7} {'streams/s':>9} {'ttft p50 ms':>11} "
        header += f"{'ttft p99 ms':>11} {'stream p50 s':>12} {'sim cpu s':>9}"
        print(header)
        for concurrency in args.concurrency:
            cpu_before = sum(sim.cpu_times()[:2])
            row = asyncio.run(run_level(base_url, concurrency))
            cpu = sum(sim.cpu_times()[:2]) - cpu_before
            print(
                f"{concurrency:>8} {row['errors']:>6} {row['wall']:>7.2f} {row['streams_per_s']:>9.1f} "
                f"{row['ttft_p50'] * 1000:>11.1f} {row['ttft_p99'] * 1000:>11.1f} "
                f"{row['duration_p50']:>12.2f} "
                f"{cpu:>9.2f}"
            )
    finally:
        process.terminate()
        process.wait(10)


if __name__ == "__main__":
    main()
