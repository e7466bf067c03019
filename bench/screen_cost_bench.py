"""CPU cost of screening one question as a request runs it (`TurnGuards.screen_turn` on the service's local
screen: RE2 rules + classifier + normalisation), for adversarial inputs at the 8,000-character message limit
next to a normal question.

Two figures per input, both thread CPU time (the clock of the per-request screening budget; other processes
on a shared machine do not count): "hot", the median of back-to-back runs, and "cold", the median of runs
that each follow a 150 ms idle pause (past 100 ms idle this machine's vCPU runs code ~3x slower, so this is
what a request arriving at a quiet replica pays). tests/service/security/test_screen_cost.py asserts the
cold median stays under 5 ms for the adversarial families.

    python bench/screen_cost_bench.py [--runs 9]

Prints a markdown table (docs/security.md, "Bounded screening").
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import string
import time

from chatfleet.chat.budget import TenantBudget
from chatfleet.chat.chain.guarding import TurnGuards
from chatfleet.chat.guards import LocalScreen
from chatfleet.chat.retrieval import Principal

LIMIT = 8_000
_R = random.Random(15)


def _words(alphabet: str, shortest: int, longest: int) -> str:
    words = ("".join(_R.choices(alphabet, k=_R.randint(shortest, longest))) for _ in range(LIMIT))
    return " ".join(words)[:LIMIT]


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
    "random words (every word new)": _words(string.ascii_lowercase, 2, 9),
    "random letters and digits, no space": "".join(
        _R.choices(string.ascii_lowercase + string.digits, k=LIMIT)
    ),
    "random symbols": "".join(_R.choices(string.punctuation + " \n", k=LIMIT)),
    "random CJK, no space (3 bytes a character)": "".join(
        chr(_R.randrange(0x4E00, 0xA000)) for _ in range(LIMIT)
    ),
    "random CJK words": _words("".join(chr(c) for c in range(0x4E00, 0x4F00)), 1, 5),
    "random accented words": _words("àéîõüçñßabcdexyz", 2, 9),
    "random emoji words (4 bytes a character)": _words("😀🔥💥a", 2, 7),
    "base64-like blob": "".join(_R.choices(string.ascii_letters + string.digits + "+/", k=LIMIT)),
    "letters spaced out": " ".join("ignoreprevious" * LIMIT)[:LIMIT],
}


async def costs_ms(guards: TurnGuards, text: str, runs: int) -> tuple[float, float]:
    """(hot median, cold median) thread CPU ms of screening `text` as a request's question."""
    principal = Principal(tenant="contoso", oid="user-a")
    await guards.screen_turn(text, (), principal)
    hot, cold = [], []
    for samples, idle in ((hot, 0.0), (cold, 0.15)):
        for _ in range(runs):
            if idle:
                await asyncio.sleep(idle)
            started = time.thread_time()
            await guards.screen_turn(text, (), principal)
            samples.append((time.thread_time() - started) * 1000)
    return statistics.median(hot), statistics.median(cold)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    guards = TurnGuards(LocalScreen(), TenantBudget(0))
    print("| input | chars | hot CPU ms (median) | cold CPU ms (median) |\n|---|---:|---:|---:|")
    for name, text in INPUTS.items():
        hot, cold = await costs_ms(guards, text, args.runs)
        print(f"| {name} | {len(text)} | {hot:.2f} | {cold:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())
