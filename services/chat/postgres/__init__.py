"""PostgreSQL for the state several replicas share (history, tenant budgets, the semantic cache): the
pool, Entra token authentication and versioned migrations, one place for all of them."""

from chatfleet.chat.postgres.connection import (
    ENTRA_SCOPE,
    EntraPassword,
    PostgresConfig,
    open_pool,
)
from chatfleet.chat.postgres.migrations import SchemaTooNew, migrate, open_migrated_pool

__all__ = [
    "ENTRA_SCOPE",
    "EntraPassword",
    "PostgresConfig",
    "SchemaTooNew",
    "migrate",
    "open_migrated_pool",
    "open_pool",
]
