"""The real chat service with Entra-mode auth against a real test issuer on loopback.

A JWKS document is served by a small HTTP server on 127.0.0.1; the service (uvicorn, in a thread) validates
tokens against it. The index holds both sample tenants plus one ACL'd document, ingested with the real
pipeline; the model is the real simulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatfleet.chat.config import Settings
from chatfleet.chat.embeddings import load_embedder
from chatfleet.chat.ingest import ingest_paths
from chatfleet.chat.retrieval import LocalIndex
from chatfleet.chat.simulator.background import RunningSimulator
from chatfleet.paths import EXAMPLES_DIR
from tests.helpers.postgres import PostgresServer
from tests.helpers.simulator import sim_deployment, simulator_fixture

pytestmark = pytest.mark.service

ISSUER = "https://login.example.test/issuer-guid/v2.0"
AUDIENCE = "api://support-bot"
HR_SECRET = "The confidential salary band for level 63 engineers is 180,000 to 240,000 credits."


@pytest.fixture(scope="session")
def issuer(loopback_issuer: Callable[..., Any]) -> Iterator[Any]:
    """The token issuer of this tier (`loopback_issuer` in tests/conftest.py): signs with kid k1 until a
    test rotates; its JWKS is what the service fetches."""
    with loopback_issuer(ISSUER, AUDIENCE, tid="contoso", oid="user-a", groups=[], name="Ada") as state:
        yield state


@pytest.fixture(scope="session")
def two_tenant_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("security-index")
    path = root / "index.sqlite"
    hr = root / "hr"
    hr.mkdir()
    (hr / "salary-bands.md").write_text(f"# Salary bands\n\n{HR_SECRET}\n", encoding="utf-8")
    embedder = load_embedder("wordllama")
    index = LocalIndex(path, embedder, readers=1)
    corpus = EXAMPLES_DIR / "corpus"
    for tenant in ("contoso", "fabrikam"):
        ingest_paths([corpus / tenant], tenant=tenant, embedder=embedder, targets=[index])
    ingest_paths([hr], tenant="contoso", embedder=embedder, targets=[index], acl_groups=["hr-group"])
    asyncio.run(index.aclose())
    return path


simulator = simulator_fixture("session", ttft_ms=5, tokens_per_second=2000, min_chunk_interval_ms=1)


@dataclass
class Service:
    url: str

    def client(self, token: str | None = None, **headers: str) -> httpx.AsyncClient:
        all_headers = dict(headers)
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        return httpx.AsyncClient(base_url=self.url, headers=all_headers, timeout=30)


@pytest.fixture(scope="session")
def security_settings(
    issuer: Any, two_tenant_index: Path, simulator: RunningSimulator
) -> Callable[..., Settings]:
    """The tier's service settings, with `overrides` (e.g. another history store)."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "auth_mode": "entra",
            "auth_issuer": ISSUER,
            "auth_audience": AUDIENCE,
            "auth_jwks_uri": issuer.jwks_url,
            "auth_jwks_min_refresh_s": 1,
            "tenants": ["contoso", "fabrikam"],
            "index_path": two_tenant_index,
            "openai_deployments": [sim_deployment(simulator)],
            "openai_deadline_s": 10,
            "openai_request_timeout_s": 5,
            "tenant_tokens_per_minute": 0,
            "default_top": 5,
        }
        values.update(overrides)
        return Settings(**values)

    return build


@pytest.fixture(scope="session")
def service(security_settings: Callable[..., Settings], serve_app: Callable[..., Any]) -> Iterator[Service]:
    with serve_app(security_settings()) as (url, _):
        yield Service(url)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def history_service(
    request: pytest.FixtureRequest,
    security_settings: Callable[..., Settings],
    serve_app: Callable[..., Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    """The tier's service with its history on one store or the other."""
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres")
        store: dict[str, Any] = {"history_store": "postgres", **server.settings(server.database())}
    else:
        store = {"history_path": Path(tmp_path_factory.mktemp("history")) / "history.sqlite"}
    with serve_app(security_settings(**store)) as (url, _):
        yield Service(url)
