"""CPU cost of the document-side defences, per unit of work, on the sample corpus.

* answer output policy (`chain/markup.py`) on a streamed answer: every sample-corpus chunk is streamed as an
  answer in 4-character tokens through the citation check and the markup filter, as `ChatChain._answer`
  does; reported per answer and per token, next to the citation check alone;
* ingest-time screening (`ingest/screening.py`): the local detector on every chunk of the sample corpus, per
  chunk, next to the embedding of the same chunks (what ingestion already spent per chunk).

Usage: .venv/bin/python bench/output_policy_bench.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

from chatfleet.chat.chain.citations import CitationFilter
from chatfleet.chat.chain.markup import LinkPolicy, MarkupFilter
from chatfleet.chat.embeddings import load_embedder
from chatfleet.chat.ingest.loaders import load_chunks
from chatfleet.chat.ingest.screening import PassageScreen
from chatfleet.paths import SAMPLE_CORPUS_DIR

TOKEN_CHARS = 4


def corpus_chunks() -> list[str]:
    chunks = []
    for path in sorted(SAMPLE_CORPUS_DIR.glob("*/*.md")):
        chunks += [c.content for c in load_chunks(path, path.read_bytes(), max_tokens=400, overlap=0.15)]
    return chunks


def stream_cost(answers: list[str], rounds: int, *, markup: bool) -> float:
    """Median seconds to push all answers through the filters once."""
    tokens = [[a[i : i + TOKEN_CHARS] for i in range(0, len(a), TOKEN_CHARS)] for a in answers]
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        for pieces in tokens:
            checker = CitationFilter(frozenset({"doc.md#0"}))
            policy = MarkupFilter(LinkPolicy.of(["docs.contoso.com"])) if markup else None
            for piece in pieces:
                text = checker.feed(piece)
                if policy is not None:
                    policy.feed(text)
            if policy is not None:
                policy.feed(checker.flush())
                policy.flush()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    chunks = corpus_chunks()
    answers = [f"{c} [doc.md#0]" for c in chunks]
    n_tokens = sum(-(-len(a) // TOKEN_CHARS) for a in answers)
    citations = stream_cost(answers, args.rounds, markup=False)
    both = stream_cost(answers, args.rounds, markup=True)
    print(f"{len(answers)} answers, {n_tokens} tokens of {TOKEN_CHARS} chars, median of {args.rounds} rounds")
    print("| step | per answer | per token |")
    print("|---|---:|---:|")
    for name, seconds in (("citation check", citations), ("citation check + markup policy", both)):
        print(f"| {name} | {seconds / len(answers) * 1e6:.0f} us | {seconds / n_tokens * 1e6:.2f} us |")

    screen = PassageScreen()
    screen.flagged("warm-up", chunks[:2])
    started = time.perf_counter()
    flagged = screen.flagged("corpus", chunks)
    screening = time.perf_counter() - started
    embedder = load_embedder("wordllama")
    started = time.perf_counter()
    embedder.embed(chunks)
    embedding = time.perf_counter() - started
    print(f"\n{len(chunks)} sample-corpus chunks, {len(flagged)} flagged")
    print("| ingest step | per chunk |")
    print("|---|---:|")
    print(f"| injection screen | {screening / len(chunks) * 1e3:.2f} ms |")
    print(f"| embedding (wordllama) | {embedding / len(chunks) * 1e3:.2f} ms |")


if __name__ == "__main__":
    main()
