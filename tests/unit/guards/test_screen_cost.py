"""Screening cost is linear, whatever an attacker puts in the 8,000 characters of a message.

Measured as process CPU time (median of several runs) and compared to generous bounds (5x the 5 ms target,
and a ratio to prose), so a loaded 2-core machine does not make it flaky: a backtracking rule cost 20-40x the
prose baseline on newline runs (200-400 ms). The precise figures are bench/screen_cost_bench.py's, in
docs/security.md.
"""

from __future__ import annotations

import statistics
import time

import pytest

from chatfleet.chat.guards import LocalScreen
from chatfleet.chat.guards.injection_rules import matched_rules

LIMIT = 8_000
TARGET_MS = 5.0  # the per-request target at the message limit (docs/security.md has where it is met)
GENEROUS = 5  # headroom for a loaded 2-core machine; a backtracking rule cost 40-80x the target
PROSE = ("lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 200)[:LIMIT]
ADVERSARIAL = {
    "question padded with newlines": "What is the refund policy?".ljust(LIMIT, "\n"),
    "tabs and newlines": "\t\n" * (LIMIT // 2),
    "letter per line": "a\n" * (LIMIT // 2),
    "system lines": ("\nsystem: " * LIMIT)[:LIMIT],
    "repeated verb": ("ignore " * LIMIT)[:LIMIT],
    "nested brackets": "([{<" * (LIMIT // 4),
    "bracket runs": "[" * (LIMIT // 2) + "]" * (LIMIT // 2),
    "one character": "x" * LIMIT,
}


@pytest.fixture(scope="module")
def screen() -> LocalScreen:
    return LocalScreen()


def cpu_ms(screen: LocalScreen, text: str, runs: int = 5) -> float:
    screen.screen_sync(text)
    samples = []
    for _ in range(runs):
        started = time.process_time()
        screen.screen_sync(text)
        samples.append((time.process_time() - started) * 1000)
    return statistics.median(samples)


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_adversarial_input_costs_what_prose_of_its_length_costs(screen, name):
    text = ADVERSARIAL[name]
    assert len(text) == LIMIT
    baseline = cpu_ms(screen, PROSE)
    cost = cpu_ms(screen, text)
    assert cost < TARGET_MS * GENEROUS, f"{name}: {cost:.1f} ms of CPU"
    assert cost < 4 * baseline + 2, f"{name}: {cost:.1f} ms against {baseline:.1f} ms for prose"


def test_the_rule_set_alone_is_far_below_a_millisecond_per_8000_characters():
    samples = []
    for text in ADVERSARIAL.values():
        matched_rules(text)
        started = time.process_time()
        for _ in range(10):
            matched_rules(text)
        samples.append((time.process_time() - started) * 100)  # ms per run
    assert statistics.median(samples) < 1.0, samples
