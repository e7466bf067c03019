"""Issue 15: screening a request costs about what ordinary text of the same length costs, whatever an
attacker puts in the 8,000 characters of the message limit (newline runs, long repeats, nested brackets, and
the inputs that were the classifier's worst cases: long single words, random words, scripts of several bytes
a character). The defect this guards against cost 200-300 ms where ordinary text costs ~2-3 ms.

Measured as a request runs it: `TurnGuards.screen_turn` (the object the chain calls) with the screen the
service builds (`build_screen`: RE2 rules + the trained classifier), awaited on an event loop, as thread CPU
time. Each run follows an idle pause longer than the 100 ms after which this machine's vCPU runs code ~3x
slower, so the figures are a cold request's. The adversarial text and ordinary prose of the same length are
screened alternately, and the least of five runs of each is compared: a ratio in one run holds on a shared,
noisy machine, where an absolute bound (5 ms, met on an idle machine) failed beside a full CI run. The
absolute figures are the benchmark's: `python -m bench.screen_cost_bench` (docs/security.md, "Bounded
screening").
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

RATIO = 3.0  # measured worst family: ~1.9x prose (random CJK words); the defect was ~100x
RUNS = 5
PROSE = "prose (lorem ipsum)"
IDLE_S = 0.15  # > 100 ms: the vCPU has slowed down again when the request arrives


@pytest.fixture(scope="module")
def guards() -> TurnGuards:
    settings = Settings(auth_mode="none", dev_mode=True)  # the screen settings are the defaults
    return TurnGuards(build_screen(settings), TenantBudget(0), screen_budget_ms=settings.guards_budget_ms)


def cold_cpu_ms(guards: TurnGuards, text: str, baseline: str) -> tuple[list[float], list[float]]:
    """Thread CPU time of screening `text` and `baseline` as a request's question, alternately, each run
    after an idle pause."""

    async def timed(principal: Principal, question: str) -> float:
        await asyncio.sleep(IDLE_S)
        started = time.thread_time()
        await guards.screen_turn(question, (), principal)
        return (time.thread_time() - started) * 1000

    async def runs() -> tuple[list[float], list[float]]:
        principal = Principal(tenant="contoso", oid="user-a")
        for question in (text, baseline):  # anything lazy happens once, not in a sample
            await guards.screen_turn(question, (), principal)
        samples: tuple[list[float], list[float]] = ([], [])
        for _ in range(RUNS):
            samples[1].append(await timed(principal, baseline))
            samples[0].append(await timed(principal, text))
        return samples

    return asyncio.run(runs())


@pytest.mark.parametrize("name", [name for name in ADVERSARIAL if name != PROSE])
def test_screening_adversarial_text_costs_about_what_prose_does(guards, name):
    text = ADVERSARIAL[name]
    assert len(text) == len(ADVERSARIAL[PROSE]) == LIMIT
    samples, prose = cold_cpu_ms(guards, text, ADVERSARIAL[PROSE])
    ratio = min(samples) / min(prose)
    assert ratio < RATIO, f"{name}: {sorted(samples)} ms against prose {sorted(prose)} ms: {ratio:.1f}x"


def test_the_rule_set_alone_is_far_below_a_millisecond_per_8000_characters():
    samples = []
    for text in ADVERSARIAL.values():
        matched_rules(text)
        started = time.process_time()
        for _ in range(10):
            matched_rules(text)
        samples.append((time.process_time() - started) * 100)  # ms per run
    assert statistics.median(samples) < 1.0, samples
