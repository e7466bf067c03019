"""PostgresHistoryStore's own parts on a real PostgreSQL server: migrations when several replicas start at
once, a newer schema refused, and Microsoft Entra token authentication with refresh before expiry (a
credential object of azure-core's AsyncTokenCredential protocol whose token is the role's password)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
import pytest
from azure.core.credentials import AccessToken

from chatfleet.chat.history import Owner, PostgresHistoryStore, TurnRecord
from chatfleet.chat.history.postgres_store import MIGRATIONS
from chatfleet.chat.postgres import ENTRA_SCOPE, EntraPassword, SchemaTooNew
from tests.helpers.postgres import PostgresServer

ADA = Owner("contoso", "user-a")


def turn(session_id: str, question: str, at: float) -> TurnRecord:
    return TurnRecord(session_id, question, "answer", [], {}, None, None, {}, at)


class PasswordCredential:
    """AsyncTokenCredential whose access token is the server's current password for the app's role, valid
    for `lifetime_s` from the fake clock's now: what Entra is to Azure Database for PostgreSQL."""

    def __init__(self, server: PostgresServer, clock: list[float], lifetime_s: float) -> None:
        self.server = server
        self.clock = clock
        self.lifetime_s = lifetime_s
        self.scopes: list[tuple[str, ...]] = []

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.server.app_password, int(self.clock[0] + self.lifetime_s))

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> PasswordCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        pass


def schema_version(server: PostgresServer, database: str) -> list[tuple[Any, ...]]:
    with server.admin(database) as conn:
        return conn.execute("SELECT component, version FROM chatfleet_schema").fetchall()


async def test_replicas_starting_at_once_migrate_once_and_all_work(postgres: PostgresServer) -> None:
    database = postgres.database()
    stores = await asyncio.gather(*(PostgresHistoryStore.open(postgres.config(database)) for _ in range(4)))
    try:
        await stores[0].add_turns([(ADA, turn("session-1", "written by one", 1.0))])
        for store in stores:
            assert [s.id for s in (await store.list_sessions(ADA, limit=5)).sessions] == ["session-1"]
    finally:
        for store in stores:
            await store.aclose()
    assert schema_version(postgres, database) == [("history", len(MIGRATIONS))]


async def test_a_database_from_a_newer_service_is_refused(postgres: PostgresServer) -> None:
    database = postgres.database()
    await (await PostgresHistoryStore.open(postgres.config(database))).aclose()
    with postgres.admin(database) as conn:
        conn.execute("UPDATE chatfleet_schema SET version = version + 1 WHERE component = 'history'")
    with pytest.raises(SchemaTooNew, match="newer than this service"):
        await PostgresHistoryStore.open(postgres.config(database))


async def test_a_wrong_password_fails_start_up_with_the_servers_message(postgres: PostgresServer) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        await PostgresHistoryStore.open(postgres.config(postgres.database(), password="wrong"))


async def test_entra_tokens_are_reused_until_close_to_expiry_then_fetched_again(
    postgres: PostgresServer,
) -> None:
    database = postgres.database()
    now = [time.time()]
    credential = PasswordCredential(postgres, now, lifetime_s=3600)
    entra = EntraPassword(credential, refresh_margin_s=300, clock=lambda: now[0])
    config = postgres.config(database, password=None, entra=entra)

    first = await PostgresHistoryStore.open(config)
    await first.add_turns([(ADA, turn("session-1", "with a token", 1.0))])
    await first.aclose()
    assert credential.scopes == [(ENTRA_SCOPE,)]

    # The server's password (the token) rotates. A token an hour from expiry is still the cached one, so a
    # new connection sends the old token, which the server no longer takes.
    postgres.set_app_password("rotated-" + postgres.app_password)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        await PostgresHistoryStore.open(config)
    assert len(credential.scopes) == 1, "a token far from expiry is reused"

    now[0] += 3600 - 299  # within the refresh margin: the next connection fetches a fresh token
    refreshed = await PostgresHistoryStore.open(config)
    try:
        detail = await refreshed.get_session(ADA, "session-1")
        assert detail is not None and detail.turns[0].question == "with a token"
    finally:
        await refreshed.aclose()
    assert credential.scopes == [(ENTRA_SCOPE,), (ENTRA_SCOPE,)]
