"""Local index benchmark: ingestion throughput (chunks/s) and query latency at 10,000 chunks.

Builds a synthetic support corpus (Markdown files of realistic sentences from examples/corpus, reshuffled
with a fixed seed) for a big tenant (10,000 chunks by default) and a small one, ingests it with the real
pipeline (chunk -> embed -> SQLite FTS5 + sqlite-vec), then runs unique queries (no embedding cache hits)
through the async Retriever API in each mode and reports p50/p95/p99. Target (issue 4): query p50 < 5 ms
at 10,000 chunks. Also times the two offline embedders per query and per chunk.

Usage: .venv/bin/python bench/index_bench.py [--chunks 10000] [--queries 300] [--embedder wordllama]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

from chatfleet.chat.embeddings import load_embedder
from chatfleet.chat.ingest import ingest_paths
from chatfleet.chat.retrieval import LocalIndex, Principal

CHUNKS_PER_FILE = 20


def vocabulary() -> list[str]:
    """~20k English words in rough frequency order: whole-word pieces of WordLlama's tokenizer (SentencePiece
    merges come roughly in frequency order), so the corpus has a real, Zipf-shaped vocabulary."""
    import json

    import wordllama

    config = Path(wordllama.__file__).parent / "tokenizers" / "l2_supercat_tokenizer_config.json"
    vocab = json.loads(config.read_text(encoding="utf-8"))["model"]["vocab"]
    ranked = sorted(vocab.items(), key=lambda item: item[1])
    return [token[1:] for token, _ in ranked if re.fullmatch("\u2581[a-z]{3,}", token)]


def zipf_sampler(words: list[str], rng: random.Random, exponent: float = 1.07):
    weights = [1.0 / (rank**exponent) for rank in range(1, len(words) + 1)]
    return lambda n: rng.choices(words, weights=weights, k=n)


def write_corpus(root: Path, chunks: int, rng: random.Random, sample) -> list[str]:
    """Files of CHUNKS_PER_FILE sections, each one ~300-token chunk under its own heading; returns the
    chunk texts so queries can be drawn from them (users ask about what the documents say)."""
    root.mkdir(parents=True, exist_ok=True)
    texts: list[str] = []
    for f in range(max(1, chunks // CHUNKS_PER_FILE)):
        parts = [f"# Support article {f}\n"]
        for s in range(CHUNKS_PER_FILE):
            sentences = [" ".join(sample(rng.randint(8, 18))).capitalize() + "." for _ in range(18)]
            body = " ".join(sentences)
            texts.append(body)
            parts.append(f"## Topic {f}-{s}\n{body}\n")
        (root / f"article-{f:05d}.md").write_text("\n".join(parts), encoding="utf-8")
    return texts


def make_queries(texts: list[str], rng: random.Random, sample, n: int) -> list[str]:
    """4-7 words from one chunk plus 0-2 random words: a question about existing content, unique each time."""
    queries = []
    for _ in range(n):
        words = re.findall(r"[a-z]+", rng.choice(texts).lower())
        queries.append(" ".join(rng.sample(words, rng.randint(4, 7)) + sample(rng.randint(0, 2))))
    return queries


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def query_latencies(
    index: LocalIndex, queries: list[str], principal: Principal, mode: str
) -> list[float]:
    out = []
    for q in queries:
        started = time.perf_counter()
        await index.search(q, principal, top=5, mode=mode)  # type: ignore[arg-type]
        out.append((time.perf_counter() - started) * 1000)
    return out


def embedder_speed(name: str, texts: list[str]) -> tuple[float, float] | None:
    try:
        embedder = load_embedder(name)
    except Exception:
        return None
    queries = [" ".join(t.split()[:8]) for t in texts[:20]]
    embedder.embed(queries[:2])
    started = time.perf_counter()
    for q in queries:
        embedder.embed([q])
    per_query = (time.perf_counter() - started) * 1000 / len(queries)
    chunks = texts[:4]
    started = time.perf_counter()
    embedder.embed(chunks)
    per_chunk = (time.perf_counter() - started) * 1000 / len(chunks)
    return per_query, per_chunk


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=10_000, help="chunks of the big tenant")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--embedder", default="wordllama")
    args = parser.parse_args()
    rng = random.Random(42)
    sample = zipf_sampler(vocabulary(), rng)
    embedder = load_embedder(args.embedder)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        texts = write_corpus(root / "big", args.chunks, rng, sample)
        write_corpus(root / "small", max(CHUNKS_PER_FILE, args.chunks // 10), rng, sample)
        index = LocalIndex(root / "bench.sqlite", embedder)
        big = ingest_paths([root / "big"], tenant="big", embedder=embedder, targets=[index])
        small = ingest_paths([root / "small"], tenant="small", embedder=embedder, targets=[index])
        rerun = ingest_paths([root / "big"], tenant="big", embedder=embedder, targets=[index])
        counts = index.counts()
        queries = make_queries(texts, rng, sample, args.queries)
        principal = Principal("big", oid="bench-user", groups=("g1",))
        await index.search("warm up", principal)
        rows = []
        for mode in ("hybrid", "text", "vectors"):
            lat = await query_latencies(index, queries, principal, mode)
            rows.append((mode, statistics.median(lat), percentile(lat, 0.95), percentile(lat, 0.99)))
        size_mb = (root / "bench.sqlite").stat().st_size / 2**20
        await index.aclose()

    print(
        f"\nLocal index benchmark ({args.embedder}, {embedder.dim} dims): tenant big = {counts['big']} "
        f"chunks, tenant small = {counts['small']} chunks, file {size_mb:.0f} MiB\n"
    )
    print("| ingestion | files | chunks | seconds | chunks/s |")
    print("|---|---:|---:|---:|---:|")
    for label, report in (("big tenant, first run", big), ("small tenant", small)):
        print(
            f"| {label} | {report.files} | {report.chunks} | {report.seconds:.1f} "
            f"| {report.chunks_per_second:.0f} |"
        )
    print(
        f"| big tenant, unchanged re-run | {rerun.files} | {rerun.unchanged} skipped "
        f"| {rerun.seconds:.2f} | - |"
    )
    print(f"\n| query mode ({len(queries)} unique queries, top 5) | p50 ms | p95 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    for mode, p50, p95, p99 in rows:
        flag = "" if p50 < 5 else "  <-- above the 5 ms target"
        print(f"| {mode} | {p50:.2f} | {p95:.2f} | {p99:.2f} |{flag}")
    print("\n| embedder | ms per query | ms per ~300-token chunk |")
    print("|---|---:|---:|")
    for name in ("wordllama", "minilm"):
        speed = embedder_speed(name, texts)
        if speed is None:
            print(f"| {name} | n/a (not installed) | n/a |")
        else:
            print(f"| {name} | {speed[0]:.2f} | {speed[1]:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())
