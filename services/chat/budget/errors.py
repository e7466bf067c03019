"""Why a turn's budget reservation was refused."""

from __future__ import annotations


class BudgetExceeded(Exception):
    """The tenant's bucket cannot cover the request yet; retry after `retry_after_s`."""

    def __init__(self, tenant: str, retry_after_s: float) -> None:
        super().__init__(f"token budget of tenant {tenant!r} exhausted; retry in {retry_after_s:.1f}s")
        self.tenant = tenant
        self.retry_after_s = retry_after_s


class BudgetUnavailable(Exception):
    """The shared budget store did not answer in time and the budget fails closed."""
