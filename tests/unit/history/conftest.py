"""Both history stores behind one fixture: every behaviour test runs on a real SQLite file and on a real
PostgreSQL database (the session's server, a fresh database per test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.history_stores import StorePlace
from tests.helpers.postgres import PostgresServer


@pytest.fixture(params=["sqlite", "postgres"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> StorePlace:
    if request.param == "sqlite":
        return StorePlace("sqlite", path=tmp_path / "history.sqlite")
    server: PostgresServer = request.getfixturevalue("postgres")
    return StorePlace("postgres", server=server, database=server.database())


@pytest.fixture
async def store(place: StorePlace):
    opened = await place.open()
    yield opened
    await opened.aclose()
