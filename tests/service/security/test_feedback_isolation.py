"""Only the user who got an answer can rate it: real RS256 tokens from the loopback issuer, the real service
and history file. Another user of the same tenant, or the same user id in another tenant, gets the 404 of an
answer that does not exist, whatever headers it forges, and the answer's rating is untouched."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytestmark = pytest.mark.service

QUESTION = {"messages": [{"role": "user", "content": "How do I connect to the VPN?"}]}


async def recorded_turn(client: Any) -> tuple[str, str]:
    """Asks one question; returns (turn id, session id) once the background writer has recorded the turn."""
    body = (await client.post("/chat", json=QUESTION)).json()
    turn_id, session_id = body["context"]["turn_id"], body["session_state"]
    async with asyncio.timeout(10):
        while (await client.get(f"/chat_history/sessions/{session_id}")).status_code != 200:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    return turn_id, session_id


async def test_another_users_answer_cannot_be_rated(service, issuer) -> None:
    ada = service.client(issuer.token(tid="contoso", oid="ada-oid"))
    intruders = {
        "same tenant": service.client(
            issuer.token(tid="contoso", oid="bob-oid"), **{"X-Chatfleet-Tenant": "contoso"}
        ),
        "other tenant, same oid": service.client(
            issuer.token(tid="fabrikam", oid="ada-oid"), **{"X-Chatfleet-Tenant": "contoso"}
        ),
    }
    async with ada:
        turn_id, session_id = await recorded_turn(ada)
        for who, intruder in intruders.items():
            async with intruder:
                forged = await intruder.post("/chat/feedback", json={"turn_id": turn_id, "rating": "down"})
                assert forged.status_code == 404, who
                assert forged.headers["content-type"].startswith("application/problem+json"), who
        session = (await ada.get(f"/chat_history/sessions/{session_id}")).json()
        assert session["answers"][0]["rating"] is None, "nobody else's rating landed on Ada's answer"
        own = await ada.post("/chat/feedback", json={"turn_id": turn_id, "rating": "up"})
        assert own.status_code == 200 and own.json()["stored"] == "history"
