"""Fixtures every tier shares. Test modules cannot import each other (importlib mode): shared plain helpers
live in tests/helpers (imported as `tests.helpers`), shared fixtures here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest

from tests.helpers.postgres import PostgresServer, running_postgres
from tests.helpers.tokens import LoopbackIssuer, serve_issuer


@pytest.fixture(scope="session")
def loopback_issuer() -> Callable[..., AbstractContextManager[LoopbackIssuer]]:
    """`with loopback_issuer(ISSUER, AUDIENCE, tid="contoso") as issuer:` inside a fixture of the scope the
    tests need (a fresh key set per test, or one per module or session)."""
    return serve_issuer


@pytest.fixture(scope="session", autouse=True)
def private_data_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Services started by the tests (in process or as `chatfleet serve`) keep their default conversation
    history under a temporary XDG data directory, never in the data directory of whoever runs the suite."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))
        yield


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (Debian's package, run as an unprivileged user); tests take
    a fresh database each with `postgres.database()`."""
    with running_postgres() as server:
        yield server
