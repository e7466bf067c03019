"""CPU cost of screening one question as a request runs it (`TurnGuards.screen_turn` on the service's local
screen: RE2 rules + classifier + normalisation), for adversarial inputs at the 8,000-character message limit
next to a normal question.

Two figures per input, both thread CPU time (the clock of the per-request screening budget; other processes
on a shared machine do not count): "hot", the median of back-to-back runs, and "cold", the median of runs
that each follow a 150 ms idle pause (past 100 ms idle this machine's vCPU runs code ~3x slower, so this is
what a request arriving at a quiet replica pays). tests/service/security/test_screen_cost.py asserts the
cold median stays under 5 ms for the adversarial families.

    .venv/bin/python -m bench.screen_cost_bench [--runs 9]   # from the repository root

Prints a markdown table (docs/security.md, "Bounded screening").
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from chatfleet.chat.budget import TenantBudget
from chatfleet.chat.chain.guarding import TurnGuards
from chatfleet.chat.guards import LocalScreen
from chatfleet.chat.retrieval import Principal
from tests.helpers.adversarial import ADVERSARIAL

INPUTS: dict[str, str] = {
    "normal question (44 chars)": "What is the refund policy for damaged items?",
    **ADVERSARIAL,
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
