"""A real simulator on a loopback port the OS picks, shared by this folder's tests and reset between them."""


import pytest

from tests.helpers.simulator import simulator_fixture

pytestmark = pytest.mark.service

simulator = simulator_fixture("module", ttft_ms=20, tokens_per_second=400, seed=1)
