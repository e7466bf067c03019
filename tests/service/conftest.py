"""Fixtures shared by the service tiers: the admin client of whichever real simulator a folder runs."""

from collections.abc import Iterator

import httpx
import pytest

from chatfleet.chat.simulator.background import RunningSimulator


@pytest.fixture
def admin(simulator: RunningSimulator) -> Iterator[httpx.Client]:
    """The simulator's admin API (`simulator` is the folder's own fixture); faults, limits and counters are
    cleared after each test so one test's faults never leak into the next."""
    with httpx.Client(base_url=simulator.base_url, timeout=10) as client:
        yield client
        client.delete("/_sim/faults").raise_for_status()
        client.delete("/_sim/limits").raise_for_status()
        client.post("/_sim/reset").raise_for_status()
