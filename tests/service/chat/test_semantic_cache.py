"""The semantic cache on the real `chatfleet serve` with the real simulator: a second, reworded question is
answered from the cache without a model call (the simulator's request counter does not move), streamed in
the same event format with the closing line saying so; another tenant's same question is not. With the
PostgreSQL store, two replicas share one cache."""

import json
from typing import Any

import httpx

from chatfleet.chat.simulator.background import RunningSimulator
from tests.helpers.postgres import PostgresServer

DEPLOYMENT = "semcache-test"  # the simulator counts requests per deployment: this test's own


def ask(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def model_calls(simulator: RunningSimulator) -> int:
    return simulator.state.counters_for(DEPLOYMENT).requests


async def stream(client: httpx.AsyncClient, tenant: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.post("/chat/stream", json=body, headers={"X-Chatfleet-Tenant": tenant})
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def answer_of(lines: list[dict[str, Any]]) -> str:
    return "".join(line["delta"].get("content", "") for line in lines[1:-1])


async def test_similar_question_is_served_from_cache_and_another_tenant_is_not(stack) -> None:
    simulator: RunningSimulator = stack.simulator
    env = {
        "CHATFLEET_OPENAI_DEPLOYMENTS": json.dumps(
            [{"name": "sim", "endpoint": simulator.base_url, "deployment": DEPLOYMENT, "apiKey": "k"}]
        ),
        "CHATFLEET_INDEX_PATH": str(stack.index),
        "CHATFLEET_TENANTS": "contoso,fabrikam",
        "CHATFLEET_METRICS_PORT": "0",
        "CHATFLEET_HISTORY_ENABLED": "false",
        "CHATFLEET_SEMANTIC_CACHE_ENABLED": "true",
    }
    with stack.serve_subprocess(env, "--dev") as service:
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
            before = model_calls(simulator)
            fresh = await stream(client, "contoso", ask("How do I fix VPN error GP-4012?"))
            assert model_calls(simulator) == before + 1, service.log()
            assert fresh[-1]["context"]["thoughts"][0]["props"]["semantic_cache"] is None

            cached = await stream(client, "contoso", ask("how can I fix  VPN error GP-4012?"))
            assert model_calls(simulator) == before + 1, "served without a model call"
            assert answer_of(cached) == answer_of(fresh) and answer_of(cached)
            # The same event format: a first line with sources and thoughts, deltas, a closing line.
            assert cached[0]["delta"] == {"role": "assistant"}
            assert cached[0]["context"]["data_points"] == fresh[0]["context"]["data_points"]
            assert cached[0]["context"]["thoughts"][0]["title"] == "Answer from the semantic cache"
            assert all(set(line) == {"delta"} for line in cached[1:-1]) and len(cached) > 3
            closing = cached[-1]["context"]["thoughts"][0]["props"]
            assert closing["semantic_cache"]["hit"] is True
            assert closing["semantic_cache"]["saved_tokens"] > 0
            assert closing["input_tokens"] == 0 and closing["output_tokens"] == 0
            assert closing["cited"] == fresh[-1]["context"]["thoughts"][0]["props"]["cited"]

            other = await stream(client, "fabrikam", ask("How do I fix VPN error GP-4012?"))
            assert model_calls(simulator) == before + 2, "another tenant's question goes to the model"
            assert other[-1]["context"]["thoughts"][0]["props"]["semantic_cache"] is None

            follow_up = ask("How do I fix VPN error GP-4012?")
            follow_up["messages"][:0] = [
                {"role": "user", "content": "I am on the guest network."},
                {"role": "assistant", "content": "Noted."},
            ]
            await stream(client, "contoso", follow_up)
            assert model_calls(simulator) > before + 2, "a follow-up bypasses the cache"


async def test_an_answer_cached_by_one_replica_is_served_by_another(stack, postgres: PostgresServer) -> None:
    """Two `chatfleet serve` processes on one PostgreSQL database (CHATFLEET_SEMANTIC_CACHE_STORE=postgres):
    the answer kept by the first is served by the second without a model call."""
    simulator: RunningSimulator = stack.simulator
    deployment = "semcache-shared-test"
    settings = postgres.settings(postgres.database())
    env = {f"CHATFLEET_{k.upper()}": str(v) for k, v in settings.items()} | {
        "CHATFLEET_OPENAI_DEPLOYMENTS": json.dumps(
            [{"name": "sim", "endpoint": simulator.base_url, "deployment": deployment, "apiKey": "k"}]
        ),
        "CHATFLEET_INDEX_PATH": str(stack.index),
        "CHATFLEET_METRICS_PORT": "0",
        "CHATFLEET_HISTORY_ENABLED": "false",
        "CHATFLEET_SEMANTIC_CACHE_ENABLED": "true",
        "CHATFLEET_SEMANTIC_CACHE_STORE": "postgres",
    }

    def calls() -> int:
        return simulator.state.counters_for(deployment).requests

    with stack.serve_subprocess(env, "--dev") as first, stack.serve_subprocess(env, "--dev") as second:
        async with (
            httpx.AsyncClient(base_url=first.url, timeout=30) as one,
            httpx.AsyncClient(base_url=second.url, timeout=30) as two,
        ):
            before = calls()
            fresh = await stream(one, "contoso", ask("How do I fix VPN error GP-4012?"))
            assert calls() == before + 1, first.log()
            cached = await stream(two, "contoso", ask("how can I fix VPN error GP-4012?"))
            assert calls() == before + 1, "the other replica served it without a model call"
            assert answer_of(cached) == answer_of(fresh) and answer_of(cached)
            assert cached[-1]["context"]["thoughts"][0]["props"]["semantic_cache"]["hit"] is True
    with postgres.admin(str(settings["postgres_database"])) as conn:
        (kept,) = conn.execute("SELECT count(*) FROM semcache_entries").fetchone() or (0,)
    assert kept == 1, "one entry, in the shared table"
