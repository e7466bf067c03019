"""Either history store (a real SQLite file, a real PostgreSQL database): owner scoping, paging, deletion,
retention, reopening."""

from __future__ import annotations

import pytest

from chatfleet.chat.history import HistoryStore, InvalidCursor, Owner, TurnRecord
from tests.helpers.history_stores import StorePlace

ADA = Owner("contoso", "user-a")
BOB = Owner("contoso", "user-b")
ADA_ELSEWHERE = Owner("fabrikam", "user-a")


def turn(session_id: str, question: str, at: float, answer: str = "An answer [doc#1].") -> TurnRecord:
    return TurnRecord(
        session_id=session_id,
        question=question,
        answer=answer,
        sources=[{"id": "doc#1", "title": "Doc", "source": "doc.md", "content": "text", "score": 0.5}],
        prompt_versions={"answer": "2"},
        deployment="primary",
        model="gpt-4o-mini",
        timings_ms={"retrieval": 1.5, "total": 40.0},
        created_at=at,
    )


async def test_turns_come_back_in_order_with_everything_recorded(store: HistoryStore) -> None:
    await store.add_turns([(ADA, turn("session-1", "How do I fix the VPN?", 100.0))])
    await store.add_turns([(ADA, turn("session-1", "And on a Mac?", 200.0, answer="Same [doc#1]."))])
    detail = await store.get_session(ADA, "session-1")
    assert detail is not None
    assert detail.summary.title == "How do I fix the VPN?"
    assert (detail.summary.created_at, detail.summary.updated_at, detail.summary.turns) == (100.0, 200.0, 2)
    assert [t.question for t in detail.turns] == ["How do I fix the VPN?", "And on a Mac?"]
    first = detail.turns[0]
    assert first.sources[0]["id"] == "doc#1"
    assert first.prompt_versions == {"answer": "2"}
    assert (first.deployment, first.model) == ("primary", "gpt-4o-mini")
    assert first.timings_ms == {"retrieval": 1.5, "total": 40.0}


async def test_sessions_are_listed_newest_first_in_pages(store: HistoryStore) -> None:
    await store.add_turns([(ADA, turn(f"session-{i:02d}", f"question {i}", float(i))) for i in range(5)])
    await store.add_turns([(ADA, turn("session-01", "follow-up", 10.0))])  # used last: listed first
    seen: list[str] = []
    cursor = None
    while True:
        page = await store.list_sessions(ADA, limit=2, cursor=cursor)
        seen += [s.id for s in page.sessions]
        if page.cursor is None:
            break
        cursor = page.cursor
    assert seen == ["session-01", "session-04", "session-03", "session-02", "session-00"]


async def test_one_owner_never_reaches_another_owners_sessions(store: HistoryStore) -> None:
    await store.add_turns([(ADA, turn("shared-id-1", "Ada's question", 1.0))])
    await store.add_turns([(BOB, turn("shared-id-1", "Bob's question", 2.0))])  # same id, other user
    for other in (BOB, ADA_ELSEWHERE):
        page = await store.list_sessions(other, limit=10)
        assert all(s.title != "Ada's question" for s in page.sessions)
    assert await store.get_session(ADA_ELSEWHERE, "shared-id-1") is None
    assert not await store.delete_session(ADA_ELSEWHERE, "shared-id-1")
    assert await store.delete_all(ADA_ELSEWHERE) == 0
    bob = await store.get_session(BOB, "shared-id-1")
    assert bob is not None and [t.question for t in bob.turns] == ["Bob's question"]
    ada = await store.get_session(ADA, "shared-id-1")
    assert ada is not None and [t.question for t in ada.turns] == ["Ada's question"]


async def test_deleting_removes_the_session_and_its_turns(store: HistoryStore, place: StorePlace) -> None:
    await store.add_turns([(ADA, turn("session-1", "q1", 1.0)), (ADA, turn("session-2", "q2", 2.0))])
    await store.add_turns([(BOB, turn("session-3", "q3", 3.0))])
    assert await store.delete_session(ADA, "session-1")
    assert await store.get_session(ADA, "session-1") is None
    assert not await store.delete_session(ADA, "session-1")
    assert await store.delete_all(ADA) == 1
    assert (await store.list_sessions(ADA, limit=10)).sessions == []
    assert len((await store.list_sessions(BOB, limit=10)).sessions) == 1
    assert place.turn_owners() == ["user-b"], "the deleted sessions' turns went with them"


async def test_purge_removes_sessions_idle_past_the_retention(store: HistoryStore) -> None:
    await store.add_turns(
        [(ADA, turn("old-session", "old", 100.0)), (BOB, turn("new-session", "new", 500.0))]
    )
    await store.add_turns(
        [(ADA, turn("revived-1", "start", 100.0)), (ADA, turn("revived-1", "again", 450.0))]
    )
    assert await store.purge(older_than=400.0) == 1
    assert await store.get_session(ADA, "old-session") is None
    assert await store.get_session(ADA, "revived-1") is not None
    assert await store.get_session(BOB, "new-session") is not None


async def test_a_cursor_it_did_not_issue_is_refused(store: HistoryStore) -> None:
    for bad in ("not-a-cursor", "W10", "e30"):
        with pytest.raises(InvalidCursor):
            await store.list_sessions(ADA, limit=5, cursor=bad)


async def test_history_survives_reopening(place: StorePlace) -> None:
    first = await place.open()
    await first.add_turns([(ADA, turn("session-1", "kept", 1.0))])
    await first.aclose()
    second = await place.open()
    try:
        assert [s.id for s in (await second.list_sessions(ADA, limit=5)).sessions] == ["session-1"]
    finally:
        await second.aclose()
