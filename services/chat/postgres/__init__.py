"""PostgreSQL for the state several replicas share (history, tenant budgets): the pool, Entra token
authentication and versioned migrations, one place for both users."""

from chatfleet.chat.postgres.connection import (
    ENTRA_SCOPE,
    EntraPassword,
    PostgresConfig,
    open_pool,
)
from chatfleet.chat.postgres.migrations import SchemaTooNew, migrate

__all__ = ["ENTRA_SCOPE", "EntraPassword", "PostgresConfig", "SchemaTooNew", "migrate", "open_pool"]
