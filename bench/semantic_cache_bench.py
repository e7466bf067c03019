"""Time to first token and model tokens with the semantic cache off and on, on repeated questions.

Starts the simulator and two chat services (one uvicorn worker each, dev mode, the local sample index) as
subprocesses on loopback: one with `CHATFLEET_SEMANTIC_CACHE_ENABLED=false`, one with it on (defaults:
threshold 0.95, TTL 1 h). Each sends to its own simulator deployment, so the simulator's counters give each
service's model calls and tokens. Both get the same workload: the ten sample questions of both tenants,
asked `--rounds` times, every other round reworded ("How do I ..." -> "how can I ...", an article added,
punctuation dropped), one reword (5 GHz Wi-Fi -> 5GHz wifi) too far for the threshold on purpose. Per
concurrency level: TTFT p50/p99 of each service (with the cache on also split into hits and misses), hit
rate, model calls and tokens (prompt + completion) as the simulator counted them.

Usage: .venv/bin/python bench/semantic_cache_bench.py [--concurrency 1 16] [--rounds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field

import httpx
from chat_latency_bench import CHATFLEET, lines_as_they_arrive, percentile, process

from chatfleet.contracts.tenancy import DEV_TENANT_HEADER

# (tenant, question, rewording)
QUESTIONS = [
    ("contoso", "How do I fix VPN error GP-4012?", "how can I fix VPN error GP-4012"),
    ("contoso", "How long is parental leave?", "How long is the parental leave?"),
    ("contoso", "What is the hotel limit in London?", "what is the hotel limit for London?"),
    ("contoso", "How often are laptops replaced?", "How often do laptops get replaced?"),
    ("contoso", "How do I report a phishing email?", "how can I report a phishing email"),
    ("fabrikam", "What does error E1 mean?", "What does the error E1 mean?"),
    ("fabrikam", "How long is the warranty?", "how long is the warranty"),
    ("fabrikam", "Does the camera support 5 GHz Wi-Fi?", "does the camera support 5GHz wifi?"),
    ("fabrikam", "When do firmware updates run?", "When do the firmware updates run?"),
    ("fabrikam", "What are the phone support hours?", "what are the support hours by phone?"),
]


@dataclass
class Variant:
    name: str
    url: str
    deployment: str
    ttft_s: list[float] = field(default_factory=list)
    hit_ttft_s: list[float] = field(default_factory=list)
    miss_ttft_s: list[float] = field(default_factory=list)
    errors: int = 0


async def ask(client: httpx.AsyncClient, variant: Variant, tenant: str, question: str) -> None:
    body = {"messages": [{"role": "user", "content": question}]}
    started = time.perf_counter()
    try:
        async with client.stream(
            "POST", f"{variant.url}/chat/stream", json=body, headers={DEV_TENANT_HEADER: tenant}
        ) as response:
            if response.status_code != 200:
                variant.errors += 1
                await response.aread()
                return
            first: float | None = None
            last = ""
            async for line in lines_as_they_arrive(response):
                if first is None and line.startswith('{"delta":{"content"'):
                    first = time.perf_counter() - started
                if line:
                    last = line
    except httpx.HTTPError:
        variant.errors += 1
        return
    closing = json.loads(last)
    if first is None or "error" in closing:
        variant.errors += 1
        return
    variant.ttft_s.append(first)
    hit = closing["context"]["thoughts"][0]["props"].get("semantic_cache") is not None
    (variant.hit_ttft_s if hit else variant.miss_ttft_s).append(first)


async def run(variant: Variant, rounds: int, concurrency: int) -> float:
    """Every round asks all questions (originals on even rounds, rewordings on odd ones), `concurrency`
    at a time; returns the wall time."""
    work = [
        (tenant, reworded if r % 2 else original)
        for r in range(rounds)
        for tenant, original, reworded in QUESTIONS
    ]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    started = time.perf_counter()
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        for at in range(0, len(work), concurrency):
            await asyncio.gather(*(ask(client, variant, t, q) for t, q in work[at : at + concurrency]))
    return time.perf_counter() - started


def model_usage(sim_url: str, deployment: str) -> tuple[int, int]:
    state = httpx.get(f"{sim_url}/_sim/state", timeout=10).json()["deployments"].get(deployment, {})
    return state.get("requests", 0), state.get("prompt_tokens", 0) + state.get("completion_tokens", 0)


def ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q) * 1000:.1f}" if values else "-"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--ttft-ms", type=float, default=100.0, help="simulator TTFT")
    parser.add_argument("--tokens-per-second", type=float, default=100.0, help="simulator pace")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATFLEET_")}
    env["PYTHONUNBUFFERED"] = "1"
    sim_args = [
        *CHATFLEET, "simulator", "--port", "0",
        "--ttft-ms", str(args.ttft_ms), "--tokens-per-second", str(args.tokens_per_second),
    ]  # fmt: skip
    serve = [*CHATFLEET, "serve", "--port", "0", "--dev"]
    print(
        f"{'conc':>4} {'reqs':>4} | {'cache':>5} | {'TTFT p50':>8} {'p99':>7} | {'hit p50':>7} "
        f"{'miss p50':>8} | {'hit rate':>8} | {'model calls':>11} {'model tokens':>12} | errors"
    )
    for concurrency in args.concurrency:
        with process(sim_args, env) as (sim_url, _):
            variants = []
            services = []
            for name, enabled in (("off", "false"), ("on", "true")):
                deployment = f"bench-cache-{name}"
                pool = [{"name": "sim", "endpoint": sim_url, "deployment": deployment, "apiKey": "bench"}]
                service_env = {
                    **env,
                    "CHATFLEET_OPENAI_DEPLOYMENTS": json.dumps(pool),
                    "CHATFLEET_LOG_LEVEL": "WARNING",
                    "CHATFLEET_TENANT_TOKENS_PER_MINUTE": "0",
                    "CHATFLEET_HISTORY_ENABLED": "false",
                    "CHATFLEET_QUALITY_SAMPLE_RATE": "0",
                    "CHATFLEET_METRICS_PORT": "0",
                    "CHATFLEET_SEMANTIC_CACHE_ENABLED": enabled,
                }
                services.append(process(serve, service_env))
                variants.append((name, deployment))
            with services[0] as (off_url, _), services[1] as (on_url, _):
                for (name, deployment), url in zip(variants, (off_url, on_url), strict=True):
                    variant = Variant(name, url, deployment)
                    asyncio.run(run(variant, args.rounds, concurrency))
                    calls, tokens = model_usage(sim_url, deployment)
                    hits = len(variant.hit_ttft_s)
                    print(
                        f"{concurrency:>4} {len(variant.ttft_s) + variant.errors:>4} | {name:>5} | "
                        f"{ms(variant.ttft_s, 0.5):>8} {ms(variant.ttft_s, 0.99):>7} | "
                        f"{ms(variant.hit_ttft_s, 0.5):>7} {ms(variant.miss_ttft_s, 0.5):>8} | "
                        f"{hits / max(1, len(variant.ttft_s)):>8.0%} | {calls:>11} {tokens:>12} | "
                        f"{variant.errors}",
                        flush=True,
                    )
    print(
        f"\nsimulator TTFT {args.ttft_ms:g} ms, {args.tokens_per_second:g} tok/s; {args.rounds} rounds of "
        f"{len(QUESTIONS)} questions; python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
