"""A real simulator on a loopback port the OS picks, shared by this folder's tests and reset between them."""

from collections.abc import Iterator

import pytest

from chatfleet.chat.simulator.background import RunningSimulator, run_in_background
from chatfleet.chat.simulator.config import SimulatorConfig

pytestmark = pytest.mark.service


@pytest.fixture(scope="module")
def simulator() -> Iterator[RunningSimulator]:
    with run_in_background(SimulatorConfig(ttft_ms=20, tokens_per_second=400, seed=1)) as running:
        yield running
