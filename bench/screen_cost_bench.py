"""CPU cost of screening one question with the local screen (rules + classifier), for adversarial inputs at
the 8,000-character message limit: newline runs, long repeats, nested brackets, next to prose and a normal
question. Process CPU time, median over runs, so a loaded machine inflates it little.

    python bench/screen_cost_bench.py [--runs 20]

Prints a markdown table (docs/security.md, "Bounded screening").
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import time

from chatfleet.chat.guards import LocalScreen

LIMIT = 8_000
INPUTS: dict[str, str] = {
    "normal question (44 chars)": "What is the refund policy for damaged items?",
    "question + newlines": "What is the refund policy for damaged items?".ljust(LIMIT, "\n"),
    "newlines only": "\n" * LIMIT,
    '"\\t\\n" x 4,000': "\t\n" * (LIMIT // 2),
    '"a\\n" x 4,000': "a\n" * (LIMIT // 2),
    '"a " x 4,000': "a " * (LIMIT // 2),
    '"[" x 4,000 + "]" x 4,000': "[" * (LIMIT // 2) + "]" * (LIMIT // 2),
    '"([{<" x 2,000 (nested brackets)': "([{<" * (LIMIT // 4),
    '"ignore " repeated': ("ignore " * LIMIT)[:LIMIT],
    '"system: " lines': ("\nsystem: " * LIMIT)[:LIMIT],
    '"x" x 8,000': "x" * LIMIT,
    "prose (lorem ipsum)": ("lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 200)[:LIMIT],
    # the worst case for the classifier: every word new, nothing to share between windows
    "random words": " ".join(
        "".join(random.Random(i).choices(string.ascii_lowercase, k=2 + i % 8)) for i in range(LIMIT)
    )[:LIMIT],
}


def cost_ms(screen: LocalScreen, text: str, runs: int) -> tuple[float, float]:
    """(median, minimum) process CPU time of one screen of `text`, after one warm-up; on a shared machine
    the minimum is the closer estimate of the cost itself."""
    screen.screen_sync(text)
    samples = []
    for _ in range(runs):
        started = time.process_time()
        screen.screen_sync(text)
        samples.append((time.process_time() - started) * 1000)
    return statistics.median(samples), min(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    screen = LocalScreen()
    print("| input | chars | CPU ms (median) | CPU ms (min) |\n|---|---:|---:|---:|")
    for name, text in INPUTS.items():
        median, least = cost_ms(screen, text, args.runs)
        print(f"| {name} | {len(text)} | {median:.2f} | {least:.2f} |")


if __name__ == "__main__":
    main()
