"""Tenant token budgets: `TenantBudget` in one replica's memory, `PostgresTenantBudget` shared by every
replica of an app through PostgreSQL; both behind the `TokenBudget` protocol the chain uses."""

from chatfleet.chat.budget.buckets import TenantBudget
from chatfleet.chat.budget.errors import BudgetExceeded, BudgetUnavailable
from chatfleet.chat.budget.postgres import PostgresTenantBudget
from chatfleet.chat.budget.protocol import TokenBudget

__all__ = ["BudgetExceeded", "BudgetUnavailable", "PostgresTenantBudget", "TenantBudget", "TokenBudget"]
