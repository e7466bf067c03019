"""Issue 15: the per-request screening cost stays under 5 ms at the 8,000-character message limit, whatever
an attacker puts in those characters (newline runs, long repeats, nested brackets, and the inputs that were
the classifier's worst cases: long single words, random words, scripts of several bytes a character).

Measured as a request runs it: `TurnGuards.screen_turn` (the object the chain calls) with the screen the
service builds (`build_screen`: RE2 rules + the trained classifier), awaited on an event loop, as thread CPU
time, the clock the per-request screening budget uses (other processes on a shared machine do not count
against it). Each run follows an idle pause longer than the 100 ms after which this machine's vCPU runs
code ~3x slower, so the figure is a cold request's, not a hot loop's; the least of several runs is
asserted (as timeit advises: other processes on the two shared cores only ever add to a run, through the
caches they evict, and a super-linear rule would make every run slow). bench/screen_cost_bench.py prints
the full table (docs/security.md, "Bounded screening").
"""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest

from chatfleet.chat.budget import TenantBudget
from chatfleet.chat.chain.guarding import TurnGuards
from chatfleet.chat.config import Settings
from chatfleet.chat.guards.factory import build_screen
from chatfleet.chat.guards.injection_rules import matched_rules
from chatfleet.chat.retrieval import Principal
from tests.helpers.adversarial import ADVERSARIAL, LIMIT

TARGET_MS = 5.0  # the per-request target at the message limit
RUNS = 5
IDLE_S = 0.15  # > 100 ms: the vCPU has slowed down again when the request arrives


@pytest.fixture(scope="module")
def guards() -> TurnGuards:
    settings = Settings(auth_mode="none", dev_mode=True)  # the screen settings are the defaults
    return TurnGuards(build_screen(settings), TenantBudget(0), screen_budget_ms=settings.guards_budget_ms)


def cold_cpu_ms(guards: TurnGuards, text: str) -> list[float]:
    """Thread CPU time of screening `text` as a request's question, each run after an idle pause."""

    async def runs() -> list[float]:
        principal = Principal(tenant="contoso", oid="user-a")
        await guards.screen_turn(text, (), principal)  # anything lazy happens once, not in a sample
        samples = []
        for _ in range(RUNS):
            await asyncio.sleep(IDLE_S)
            started = time.thread_time()
            await guards.screen_turn(text, (), principal)
            samples.append((time.thread_time() - started) * 1000)
        return samples

    return asyncio.run(runs())


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_screening_one_request_costs_under_5_ms_at_the_limit(guards, name):
    text = ADVERSARIAL[name]
    assert len(text) == LIMIT
    samples = cold_cpu_ms(guards, text)
    assert min(samples) < TARGET_MS, f"{name}: {sorted(samples)} ms of CPU"


def test_the_rule_set_alone_is_far_below_a_millisecond_per_8000_characters():
    samples = []
    for text in ADVERSARIAL.values():
        matched_rules(text)
        started = time.process_time()
        for _ in range(10):
            matched_rules(text)
        samples.append((time.process_time() - started) * 100)  # ms per run
    assert statistics.median(samples) < 1.0, samples
