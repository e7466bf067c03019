"""Router unit-test fixtures: a hand-driven clock, so cooldowns and breakers are tested without sleeping."""

import pytest


class ManualClock:
    """Monotonic time that only moves when the test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()
