"""Conversation history is private to one user of one tenant, whatever the caller puts in the request: real
RS256 tokens from the loopback issuer, the real service, on each store (a real SQLite history file and a
real PostgreSQL database)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytestmark = pytest.mark.service

QUESTION = {"messages": [{"role": "user", "content": "How do I connect to the VPN?"}]}


async def recorded_session(client: Any) -> str:
    """Asks one question and waits until the background writer has recorded it; returns its session id."""
    session_id = (await client.post("/chat", json=QUESTION)).json()["session_state"]
    assert isinstance(session_id, str)
    async with asyncio.timeout(10):
        while (await client.get(f"/chat_history/sessions/{session_id}")).status_code != 200:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    return session_id


async def listed(client: Any) -> set[str]:
    response = await client.get("/chat_history/sessions", params={"count": 100})
    assert response.status_code == 200, response.text
    return {s["id"] for s in response.json()["sessions"]}


async def test_one_user_cannot_list_read_or_delete_another_users_sessions(history_service, issuer) -> None:
    ada = history_service.client(issuer.token(tid="contoso", oid="ada-oid"))
    # Same tenant, another user; another tenant with the SAME oid; each forging every header it can.
    intruders = {
        "same tenant": history_service.client(
            issuer.token(tid="contoso", oid="bob-oid"), **{"X-Chatfleet-Tenant": "contoso"}
        ),
        "other tenant, same oid": history_service.client(
            issuer.token(tid="fabrikam", oid="ada-oid"), **{"X-Chatfleet-Tenant": "contoso"}
        ),
    }
    async with ada:
        session_id = await recorded_session(ada)
        for who, intruder in intruders.items():
            async with intruder:
                own = await recorded_session(intruder)
                assert session_id not in await listed(intruder), who
                read = await intruder.get(f"/chat_history/sessions/{session_id}")
                assert read.status_code == 404, who
                assert (await intruder.delete(f"/chat_history/sessions/{session_id}")).status_code == 404, who
                assert (await intruder.delete("/chat_history/sessions")).json()["deleted"] >= 1, who
                # Continuing Ada's session id records into the intruder's own history, never into Ada's.
                hijack = {**QUESTION, "session_state": session_id}
                assert (await intruder.post("/chat", json=hijack)).json()["session_state"] == session_id
                assert own not in await listed(ada), who
        await asyncio.sleep(0.3)  # the intruders' writes have landed
        mine = (await ada.get(f"/chat_history/sessions/{session_id}")).json()
        assert len(mine["answers"]) == 1, "nobody else's turn was appended to Ada's session"
        assert session_id in await listed(ada)


async def test_no_history_without_a_verified_user(history_service, issuer) -> None:
    async with history_service.client(issuer.token(tid="contoso", oid=None)) as no_oid:
        body = (await no_oid.post("/chat", json=QUESTION)).json()
        assert body["session_state"] is None, "a token without oid records nothing"
        forbidden = await no_oid.get("/chat_history/sessions")
        assert forbidden.status_code == 403
    async with history_service.client() as anonymous:
        assert (await anonymous.get("/chat_history/sessions")).status_code == 401
        assert (await anonymous.delete("/chat_history/sessions")).status_code == 401
