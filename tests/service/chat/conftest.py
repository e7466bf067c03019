"""Fixtures of the chat service tests: the real simulator, a real local index of the sample corpus, and the
service itself served by uvicorn on a loopback port (in a thread, or as a `chatfleet serve` subprocess).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatfleet.chat.config import Settings
from chatfleet.chat.llm import DeploymentConfig
from chatfleet.chat.sample_index import build_sample_index
from chatfleet.chat.simulator.background import RunningSimulator
from tests.helpers.serve import serve_subprocess
from tests.helpers.simulator import sim_deployment, simulator_fixture

pytestmark = pytest.mark.service
ServeApp = Callable[[Settings], AbstractContextManager[tuple[str, Any]]]

simulator = simulator_fixture("session", ttft_ms=20, tokens_per_second=400, min_chunk_interval_ms=5)


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("index") / "sample.sqlite"
    asyncio.run(build_sample_index(path))
    return path


def dev_settings(sim: RunningSimulator, index: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "dev_mode": True,
        "auth_mode": "none",
        "index_path": index,
        "openai_deployments": [sim_deployment(sim)],
        "openai_deadline_s": 10,
        "openai_request_timeout_s": 5,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Service:
    url: str
    app: Any

    def client(self, tenant: str | None = "contoso", **kwargs: Any) -> httpx.AsyncClient:
        headers = {"X-Chatfleet-Tenant": tenant} if tenant else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30, **kwargs)


@pytest.fixture(scope="session")
def service(simulator: RunningSimulator, sample_index: Path, serve_app: ServeApp) -> Iterator[Service]:
    settings = dev_settings(
        simulator,
        sample_index,
        tenants=["contoso", "fabrikam"],
        max_messages=6,
        max_message_chars=2000,
        max_total_chars=4000,
        max_body_bytes=16384,
        tenant_tokens_per_minute=0,
    )
    with serve_app(settings) as (url, app):
        running = Service(url, app)
        yield running


def parse_jsonl(text: str) -> list[dict[str, Any]]:
    """Every line must be one JSON object (the contract), blank lines not allowed."""
    lines = text.split("\n")
    assert lines[-1] == "", "the stream must end with a newline"
    return [json.loads(line) for line in lines[:-1]]


@pytest.fixture
def jsonl() -> Any:
    """`parse_jsonl` as a fixture (test modules cannot import each other under importlib mode)."""
    return parse_jsonl


class Stack:
    """Helpers for tests that need their own service instance (test modules cannot import conftest)."""

    def __init__(self, simulator: RunningSimulator, index: Path, serve_app: ServeApp) -> None:
        self.simulator = simulator
        self.index = index
        self._serve_app = serve_app

    def deployment(self, name: str, azure_deployment: str) -> DeploymentConfig:
        return sim_deployment(self.simulator, name, azure_deployment)

    def settings(self, **overrides: Any) -> Settings:
        return dev_settings(self.simulator, self.index, **overrides)

    def set_faults(self, azure_deployment: str, **faults: Any) -> None:
        url = f"{self.simulator.base_url}/_sim/faults/{azure_deployment}"
        httpx.put(url, json=faults, timeout=5).raise_for_status()

    @contextmanager
    def serve(self, settings: Settings) -> Iterator[Service]:
        """The real app with these settings, in a thread (`serve_app` in tests/service/conftest.py)."""
        with self._serve_app(settings) as (url, app):
            yield Service(url, app)

    serve_subprocess = staticmethod(serve_subprocess)


@pytest.fixture
def stack(simulator: RunningSimulator, sample_index: Path, serve_app: ServeApp) -> Stack:
    return Stack(simulator, sample_index, serve_app)
