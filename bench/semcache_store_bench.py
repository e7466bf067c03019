"""Semantic cache store benchmark: what a lookup (`nearest`) and a write (`add`) cost in each store, by how
many fresh entries the question's scope holds.

Starts a real PostgreSQL (Debian's server, as the tests do: tests/helpers/postgres.py) on loopback, fills one
scope of each store with N entries of the default embedder's dimension (random unit vectors, a realistic
answer payload), then times `lookups` nearest-entry lookups of fresh random questions and `lookups` writes
into other scopes (a write also purges expired entries and bounds its scope). Reports p50/p99 in ms.
The PostgreSQL figures include the loopback round trips (two per lookup, three per write); a server in
the same Azure region adds its network round trip to each.

Usage (from the repository root): .venv/bin/python -m bench.semcache_store_bench [--lookups 300]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import numpy as np

from chatfleet.chat.embeddings import load_embedder
from chatfleet.chat.protocol import Citation
from chatfleet.chat.semcache import CachedAnswer, CacheStore, MemoryCacheStore, PostgresCacheStore
from tests.helpers.postgres import running_postgres

SIZES = (10, 100, 1000)
ANSWER = "To fix VPN error GP-4012, restart the VPN client and sign in again [vpn.md#0]. " * 8


def unit_vectors(rng: np.random.Generator, count: int, dim: int) -> np.ndarray:
    vectors = rng.standard_normal((count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def entry(scope: str, vector: np.ndarray, at: float) -> CachedAnswer:
    citations = [
        Citation(id=f"doc{i}.md#0", source=f"doc{i}.md", title="Doc", content="x" * 400, score=0.5)
        for i in range(5)
    ]
    chunks = [(f"doc{i}.md", 0) for i in range(5)]
    return CachedAnswer(scope, "contoso", vector, ANSWER, citations, chunks, ["doc0.md#0"], "d", "m", 900, at)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def measure(store: CacheStore, size: int, dim: int, lookups: int) -> tuple[float, float, float, float]:
    rng = np.random.default_rng(size)
    now = time.time()
    for i, vector in enumerate(unit_vectors(rng, size, dim)):
        await store.add(entry(f"scope-{size}", vector, now + i * 1e-3))
    lookup_ms = []
    for question in unit_vectors(rng, lookups, dim):
        started = time.perf_counter()
        found = await store.nearest(f"scope-{size}", question, since=now - 60)
        lookup_ms.append((time.perf_counter() - started) * 1000)
        assert found is not None
    add_ms = []
    for i, vector in enumerate(unit_vectors(rng, lookups, dim)):
        started = time.perf_counter()
        await store.add(entry(f"writes-{size}-{i % 50}", vector, time.time()))
        add_ms.append((time.perf_counter() - started) * 1000)
    return (*percentiles(lookup_ms), *percentiles(add_ms))


async def main(lookups: int) -> None:
    dim = len(load_embedder("wordllama").embed(["dimension"])[0])
    print(f"dim {dim}, {lookups} lookups and writes per row")
    print("| store | scope entries | lookup p50 | lookup p99 | write p50 | write p99 |")
    print("|---|---|---|---|---|---|")
    with running_postgres() as server:
        for size in SIZES:
            stores: list[tuple[str, CacheStore]] = [
                ("memory", MemoryCacheStore(100_000)),
                (
                    "postgres",
                    await PostgresCacheStore.open(
                        server.config(server.database()), ttl_s=3600, max_scope_entries=1000, timeout_s=5
                    ),
                ),
            ]
            for name, store in stores:
                figures = await measure(store, size, dim, lookups)
                await store.aclose()
                print(f"| {name} | {size} | " + " | ".join(f"{f:.2f} ms" for f in figures) + " |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=300)
    asyncio.run(main(parser.parse_args().lookups))
