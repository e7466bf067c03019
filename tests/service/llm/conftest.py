"""The real simulator on loopback for router resilience tests, plus helpers to build a router pool on it."""

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from chatfleet.chat.llm import DeploymentConfig, LLMRouter
from chatfleet.chat.simulator.background import RunningSimulator
from tests.helpers.simulator import simulator_fixture

simulator = simulator_fixture("module", ttft_ms=10, tokens_per_second=1000, seed=3)


@pytest.fixture
def pool(simulator: RunningSimulator) -> Callable[..., list[DeploymentConfig]]:
    """pool("a", "b", ptu={"priority": 1}) -> deployments named after simulator deployments."""

    def build(*names: str, **overrides: dict[str, object]) -> list[DeploymentConfig]:
        every = list(names) + [name for name in overrides if name not in names]
        return [
            DeploymentConfig(
                name=name,
                endpoint=simulator.base_url,
                deployment=name,
                api_key="test-key",
                **overrides.get(name, {}),  # type: ignore[arg-type]
            )
            for name in every
        ]

    return build


@pytest.fixture
def calls(admin: httpx.Client) -> Callable[[], dict[str, int]]:
    """Requests each simulator deployment received so far."""

    def read() -> dict[str, int]:
        deployments = admin.get("/_sim/state").json()["deployments"]
        return {name: d["requests"] for name, d in deployments.items() if d["requests"]}

    return read


@pytest.fixture
async def make_router() -> AsyncIterator[Callable[..., LLMRouter]]:
    """LLMRouter factory; every router made is closed after the test, pass or fail."""
    made: list[LLMRouter] = []

    def make(*args: Any, **kwargs: Any) -> LLMRouter:
        router = LLMRouter(*args, **kwargs)
        made.append(router)
        return router

    yield make
    for router in made:
        await router.aclose()
