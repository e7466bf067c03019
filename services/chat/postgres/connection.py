"""A psycopg 3 async connection pool to PostgreSQL, with a password or a Microsoft Entra access token.

Azure Database for PostgreSQL flexible server takes an Entra access token (scope ENTRA_SCOPE) as the password
of the role named after the identity. The token is only checked when a connection is opened, so the pool asks
`EntraPassword` for one per new connection; it is fetched again when it is within `refresh_margin_s` of expiry
and reused otherwise (azure-identity's credentials cache too, but one call per connection would still cost a
lock and, for some credentials, a round trip). Connections already open outlive their token, as PostgreSQL
allows; the pool's `max_lifetime` recycles them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from azure.core.credentials import AccessToken
from azure.core.credentials_async import AsyncTokenCredential
from psycopg import AsyncConnection
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool

ENTRA_SCOPE = "https://ossrdbms-aad.database.windows.net/.default"

SslMode = Literal["disable", "prefer", "require", "verify-ca", "verify-full"]


class EntraPassword:
    """The current access token for PostgreSQL, fetched again shortly before it expires."""

    def __init__(
        self,
        credential: AsyncTokenCredential,
        *,
        refresh_margin_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.credential = credential
        self.refresh_margin_s = refresh_margin_s
        self.clock = clock
        self._token: AccessToken | None = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> str:
        async with self._lock:  # one fetch when many connections open at once
            if self._token is None or self._token.expires_on - self.clock() <= self.refresh_margin_s:
                self._token = await self.credential.get_token(ENTRA_SCOPE)
            return self._token.token


@dataclass(frozen=True)
class PostgresConfig:
    """Where and how to connect. `password` None with `entra` None leaves authentication to libpq (PGPASSWORD,
    ~/.pgpass, peer/trust on a local socket): the local-use path."""

    host: str
    database: str
    user: str
    port: int = 5432
    sslmode: SslMode = "require"
    password: str | None = field(default=None, repr=False)  # never in a log line
    entra: EntraPassword | None = field(default=None, repr=False)
    pool_min: int = 1
    pool_max: int = 10
    connect_timeout_s: float = 10.0
    application_name: str = "chatfleet-chat"

    def conninfo(self) -> str:
        return make_conninfo(
            host=self.host,
            port=str(self.port),
            dbname=self.database,
            user=self.user,
            sslmode=self.sslmode,
            application_name=self.application_name,
            connect_timeout=str(max(1, round(self.connect_timeout_s))),
        )

    async def connect_kwargs(self) -> dict[str, Any]:
        """What each new connection is opened with: a fresh-enough token under Entra."""
        kwargs: dict[str, Any] = {"autocommit": True}
        if self.entra is not None:
            kwargs["password"] = await self.entra()
        elif self.password is not None:
            kwargs["password"] = self.password
        return kwargs


async def open_pool(config: PostgresConfig, *, name: str) -> AsyncConnectionPool[AsyncConnection[Any]]:
    """Opens the pool once one connection succeeded, so a wrong host or credential fails start-up with
    libpq's own message (the pool alone retries quietly until its timeout), not the first request."""
    probe = await AsyncConnection.connect(config.conninfo(), **await config.connect_kwargs())
    await probe.close()
    pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
        config.conninfo(),
        kwargs=config.connect_kwargs,
        min_size=config.pool_min,
        max_size=config.pool_max,
        timeout=config.connect_timeout_s,
        name=name,
        open=False,
    )
    try:
        await pool.open(wait=True, timeout=config.connect_timeout_s)
    except BaseException:
        await pool.close()
        raise
    return pool
