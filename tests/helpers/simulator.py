"""The real Azure OpenAI simulator in a background thread, as a fixture each service folder declares with the
pacing its tests need, and pool entries that point at it."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chatfleet.chat.llm import DeploymentConfig
from chatfleet.chat.simulator.background import RunningSimulator, run_in_background
from chatfleet.chat.simulator.config import SimulatorConfig


def simulator_fixture(scope: str, **config: Any) -> Callable[[], Iterator[RunningSimulator]]:
    """`simulator = simulator_fixture("module", ttft_ms=20, ...)` in a conftest.py: a fixture named
    `simulator` running one simulator with that SimulatorConfig for the scope."""

    def simulator() -> Iterator[RunningSimulator]:
        with run_in_background(SimulatorConfig(**config)) as running:
            yield running

    return pytest.fixture(scope=scope, name="simulator")(simulator)  # type: ignore[call-overload,no-any-return]


def sim_deployment(
    simulator: RunningSimulator,
    name: str = "sim",
    azure_deployment: str = "gpt-4o-mini",
    api_key: str = "test-key",
) -> DeploymentConfig:
    """A pool entry for one of the simulator's deployments (it accepts any API key)."""
    return DeploymentConfig(
        name=name, endpoint=simulator.base_url, deployment=azure_deployment, apiKey=api_key
    )
