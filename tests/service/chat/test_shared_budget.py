"""Tenant token budgets hold across replicas: three real `chatfleet serve` processes against one real
PostgreSQL database and one budget. The tenant gets its budget once, not three times."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
import pytest

from chatfleet.chat.problems import PROBLEM_BASE
from tests.helpers.postgres import PostgresServer

pytestmark = pytest.mark.service

QUESTION = {"messages": [{"role": "user", "content": "How do I reset my VPN password?"}]}
BUDGET = 2000  # tokens a minute: a few turns, refilling ~33 tokens a second


@contextmanager
def replicas(stack: Any, env: dict[str, str], count: int) -> Iterator[list[str]]:
    with ExitStack() as running:
        yield [running.enter_context(stack.serve_subprocess(env, "--dev")).url for _ in range(count)]


def turns_until_refused(urls: list[str], tenant: str, limit: int = 40) -> tuple[int, httpx.Response]:
    """Asks one question after another, round robin over `urls`, until one is refused; returns how many
    were answered and the refusal."""
    headers = {"X-Chatfleet-Tenant": tenant}
    for i in range(limit):
        response = httpx.post(f"{urls[i % len(urls)]}/chat", json=QUESTION, headers=headers, timeout=30)
        if response.status_code != 200:
            return i, response
    raise AssertionError(f"{limit} turns of {tenant} answered: the budget never held")


def test_three_replicas_give_a_tenant_its_budget_once(stack: Any, postgres: PostgresServer) -> None:
    settings = postgres.settings(postgres.database())
    env = {f"CHATFLEET_{k.upper()}": str(v) for k, v in settings.items()}
    env |= {
        "CHATFLEET_BUDGET_STORE": "postgres",
        "CHATFLEET_HISTORY_ENABLED": "false",
        "CHATFLEET_TENANT_TOKENS_PER_MINUTE": str(BUDGET),
        "CHATFLEET_OPENAI_DEPLOYMENTS": json.dumps(
            [
                {
                    "name": "sim",
                    "endpoint": stack.simulator.base_url,
                    "deployment": "gpt-4o-mini",
                    "apiKey": "k",
                }
            ]
        ),
        "CHATFLEET_INDEX_PATH": str(stack.index),
    }
    with replicas(stack, env, 3) as urls:
        # One replica alone: how many of these turns one budget covers (fabrikam's bucket).
        alone, _ = turns_until_refused(urls[:1], "fabrikam")
        # The same turns spread over all three replicas (contoso's bucket): the same count, not three times.
        spread, refusal = turns_until_refused(urls, "contoso")
    assert alone >= 2, "the budget covers a few turns"
    assert alone <= spread <= alone + 1, f"one replica: {alone} turns; three replicas: {spread}"
    assert refusal.status_code == 429
    assert refusal.json()["type"] == PROBLEM_BASE + "rate-limited"
    assert int(refusal.headers["retry-after"]) >= 1
    with postgres.admin(settings["postgres_database"]) as conn:  # type: ignore[arg-type]
        tenants = [r[0] for r in conn.execute("SELECT tenant FROM budget_buckets ORDER BY 1")]
    assert tenants == ["contoso", "fabrikam"], "the buckets live in the database, one per tenant"
