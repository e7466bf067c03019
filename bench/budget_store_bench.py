"""Cost of one shared tenant-budget round trip: `PostgresTenantBudget.reserve` and `settle`, in process.

Opens the budget on a PostgreSQL database (`--postgres-url`), then times sequential reservations and
settlements of one tenant (the round trips a turn adds on the way to its first token, and after its last);
also with `--concurrency` tasks at once, as many streams of one replica would. Prints p50/p99 in ms.

Usage: .venv/bin/python bench/budget_store_bench.py --postgres-url postgresql://user:pw@host:port/db
       [--requests 2000] [--concurrency 1 64]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from psycopg.conninfo import conninfo_to_dict

from chatfleet.chat.budget import PostgresTenantBudget, TenantBudget
from chatfleet.chat.postgres import PostgresConfig


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def worker(
    budget: PostgresTenantBudget, turns: range, reserve: list[float], settle: list[float]
) -> None:
    """One stream's turns one after another: a reservation, then the settlement of the real usage."""
    for i in turns:
        started = time.perf_counter()
        await budget.reserve(f"tenant-{i % 8}", 1000)
        reserve.append(time.perf_counter() - started)
        started = time.perf_counter()
        await budget.settle(f"tenant-{i % 8}", 400, 1000)
        settle.append(time.perf_counter() - started)


async def run(url: str, requests: int, levels: list[int]) -> None:
    parts = conninfo_to_dict(url)
    config = PostgresConfig(
        host=str(parts.get("host", "127.0.0.1")),
        port=int(parts.get("port", 5432)),
        database=str(parts["dbname"]),
        user=str(parts["user"]),
        password=str(parts["password"]) if "password" in parts else None,
        sslmode=str(parts.get("sslmode", "disable")),  # type: ignore[arg-type]
    )
    budget = await PostgresTenantBudget.open(config, TenantBudget(10**12), timeout_s=1.0, failure="closed")
    try:
        for concurrency in levels:
            reserve: list[float] = []
            settle: list[float] = []
            streams = [range(w, requests, concurrency) for w in range(concurrency)]
            await asyncio.gather(*(worker(budget, turns, reserve, settle) for turns in streams))
            for name, samples in (("reserve", reserve), ("settle", settle)):
                print(
                    f"concurrency {concurrency:>3} {name:>7}: p50 {percentile(samples, 0.5) * 1000:.3f} ms, "
                    f"p99 {percentile(samples, 0.99) * 1000:.3f} ms, mean "
                    f"{statistics.fmean(samples) * 1000:.3f} ms ({len(samples)} calls)"
                )
    finally:
        await budget.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres-url", required=True)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64])
    args = parser.parse_args()
    asyncio.run(run(args.postgres_url, args.requests, args.concurrency))


if __name__ == "__main__":
    main()
