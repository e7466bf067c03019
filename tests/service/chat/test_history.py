"""Conversation history through the real service (dev mode: the tenant header and the fixed dev user): the
session id travels in `session_state`, finished turns are recorded, listed, reopened and deleted, and the
history file outlives the process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from chatfleet.chat.problems import PROBLEM_BASE


async def until(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    """The writer records a turn after its answer ended, in the background: poll for it over HTTP."""
    try:
        async with asyncio.timeout(10):
            while not (result := await check()):  # noqa: ASYNC110 (polls another process over HTTP)
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
    return result


async def session_of(client: httpx.AsyncClient, session_id: str, turns: int) -> dict[str, Any] | None:
    response = await client.get(f"/chat_history/sessions/{session_id}")
    if response.status_code == 200 and len(response.json()["answers"]) == turns:
        return response.json()
    return None


async def test_a_conversation_is_recorded_reopened_continued_and_deleted(service, jsonl) -> None:
    question = "What does error E1 mean on my thermostat?"
    async with service.client("fabrikam") as client:
        async with client.stream(
            "POST", "/chat/stream", json={"messages": [{"role": "user", "content": question}]}
        ) as response:
            assert response.status_code == 200
            lines = jsonl("".join([chunk async for chunk in response.aiter_text()]))
        session_id = lines[0]["session_state"]
        assert isinstance(session_id, str) and len(session_id) == 36
        assert lines[-1]["session_state"] == session_id
        answer = "".join(line["delta"].get("content", "") for line in lines if "delta" in line)
        citations = {c["id"] for c in lines[0]["context"]["data_points"]["citations"]}

        first = await until(lambda: session_of(client, session_id, 1), "the first turn")
        turn = first["answers"][0]
        assert (first["title"], turn["question"], turn["answer"]) == (question, question, answer)
        assert turn["sources"] and {s["id"] for s in turn["sources"]} <= citations
        assert all(f"[{s['id']}]" in answer for s in turn["sources"]), "only the cited sources are kept"
        prompts = (await client.get("/config")).json()["prompts"]
        assert turn["prompt_versions"] == prompts
        assert turn["deployment"] and turn["model"]
        assert {"retrieval", "total"} <= set(turn["timings_ms"])

        follow_up = {
            "messages": [
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer},
                {"role": "user", "content": "How long is the warranty?"},
            ],
            "session_state": session_id,
        }
        continued = await client.post("/chat", json=follow_up)
        assert continued.status_code == 200 and continued.json()["session_state"] == session_id
        both = await until(lambda: session_of(client, session_id, 2), "the follow-up turn")
        assert [a["question"] for a in both["answers"]] == [question, "How long is the warranty?"]

        listed = (await client.get("/chat_history/sessions", params={"count": 100})).json()
        assert listed["sessions"][0]["id"] == session_id and listed["sessions"][0]["turns"] == 2

        async with service.client("contoso") as other_tenant:  # the same dev user in another tenant
            assert (await other_tenant.get(f"/chat_history/sessions/{session_id}")).status_code == 404
            assert (await other_tenant.delete(f"/chat_history/sessions/{session_id}")).status_code == 404
            ids = [s["id"] for s in (await other_tenant.get("/chat_history/sessions")).json()["sessions"]]
            assert session_id not in ids

        assert (await client.delete(f"/chat_history/sessions/{session_id}")).status_code == 204
        gone = await client.get(f"/chat_history/sessions/{session_id}")
        assert gone.status_code == 404 and gone.json()["type"] == PROBLEM_BASE + "not-found"
        assert (await client.delete(f"/chat_history/sessions/{session_id}")).status_code == 404


async def test_delete_all_of_mine_and_paging(service) -> None:
    async with service.client("fabrikam") as client:
        ids = []
        for text in ("Does the camera support 5 GHz Wi-Fi?", "How long is the warranty?", "What is E1?"):
            body = (await client.post("/chat", json={"messages": [{"role": "user", "content": text}]})).json()
            ids.append(body["session_state"])

        async def all_listed() -> list[str] | None:
            seen, token = [], None
            while True:
                params = {"count": 2, **({"continuation_token": token} if token else {})}
                page = (await client.get("/chat_history/sessions", params=params)).json()
                seen += [s["id"] for s in page["sessions"]]
                if not (token := page["continuation_token"]):
                    return seen if set(ids) <= set(seen) else None

        seen = await until(all_listed, "three sessions")
        assert [i for i in seen if i in ids] == ids[::-1], "newest first"
        deleted = await client.delete("/chat_history/sessions")
        assert deleted.status_code == 200 and deleted.json()["deleted"] >= 3
        assert (await client.get("/chat_history/sessions")).json()["sessions"] == []


async def test_bad_paging_token_and_session_id_are_problems(service) -> None:
    async with service.client("contoso") as client:
        bad_token = await client.get("/chat_history/sessions", params={"continuation_token": "garbage"})
        bad_id = await client.get("/chat_history/sessions/..%2Fetc")
        too_many = await client.get("/chat_history/sessions", params={"count": 1000})
    assert bad_token.status_code == 400 and bad_token.json()["type"] == PROBLEM_BASE + "bad-request"
    assert bad_id.status_code in (404, 422)
    assert too_many.status_code == 422


async def test_client_state_that_is_not_a_session_id_is_echoed_and_not_recorded(service) -> None:
    async with service.client("contoso") as client:
        before = (await client.get("/chat_history/sessions", params={"count": 100})).json()["sessions"]
        body = (
            await client.post(
                "/chat",
                json={
                    "messages": [{"role": "user", "content": "How long is parental leave?"}],
                    "session_state": {"mine": 1},
                },
            )
        ).json()
        assert body["session_state"] == {"mine": 1}
        await asyncio.sleep(0.3)
        after = (await client.get("/chat_history/sessions", params={"count": 100})).json()["sessions"]
    assert after == before


def test_history_outlives_a_restart_and_can_be_turned_off(stack, tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    ask = {"messages": [{"role": "user", "content": "How do I fix VPN error GP-4012?"}]}
    headers = {"X-Chatfleet-Tenant": "contoso"}
    with stack.serve(stack.settings(history_path=path)) as service:
        answer = httpx.post(f"{service.url}/chat", json=ask, headers=headers, timeout=30).json()
    # the service has stopped; its shutdown wrote what was still queued
    with stack.serve(stack.settings(history_path=path)) as service:
        listed = httpx.get(f"{service.url}/chat_history/sessions", headers=headers, timeout=10).json()
    assert [s["id"] for s in listed["sessions"]] == [answer["session_state"]]
    with stack.serve(stack.settings(history_enabled=False)) as service:
        body = httpx.post(f"{service.url}/chat", json=ask, headers=headers, timeout=30).json()
        off = httpx.get(f"{service.url}/chat_history/sessions", headers=headers, timeout=10)
        features = httpx.get(f"{service.url}/config", timeout=10).json()["features"]
    assert body["session_state"] is None
    assert off.status_code == 404 and "off" in off.json()["detail"]
    assert features["history"] is False


async def test_the_sidebar_script_is_a_static_file_and_nothing_else_is_served(service) -> None:
    async with service.client(None) as client:
        page = (await client.get("/")).text
        script = await client.get("/static/history.js")
        others = [await client.get(f"/static/{name}") for name in ("index.html", "..%2Fconfig.py", "x.js")]
    assert '<script src="/static/history.js"></script>' in page
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "/chat_history/sessions" in script.text
    assert script.headers["x-content-type-options"] == "nosniff"
    assert [r.status_code for r in others] == [404, 404, 404]
