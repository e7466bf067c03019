"""Feedback on stored turns (on both stores): scoped by owner, replaced on a second rating, upgraded
from a version-1 file without losing turns, and read back offline (read-only) for `eval import-feedback`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from chatfleet.chat.history import HistoryStore, Owner, SqliteHistoryStore, TurnFeedback, TurnRecord
from chatfleet.chat.history.sqlite_store import MIGRATIONS, read_rated_turns

ADA = Owner("contoso", "user-a")
BOB = Owner("contoso", "user-b")


def turn(session_id: str, question: str, at: float, turn_id: str | None) -> TurnRecord:
    return TurnRecord(
        session_id=session_id,
        question=question,
        answer=f"About {question} [docs/vpn.md#1].",
        sources=[
            {"id": "docs/vpn.md#1", "title": "VPN", "source": "docs/vpn.md", "content": "t", "score": 1}
        ],
        prompt_versions={"answer": "2"},
        deployment="primary",
        model="gpt-4o-mini",
        timings_ms={"total": 40.0},
        created_at=at,
        turn_id=turn_id,
    )


async def test_feedback_is_kept_on_the_owners_turn_only(store: HistoryStore) -> None:
    """On either store (the `store` fixture runs it on SQLite and on PostgreSQL)."""
    await store.add_turns(
        [(ADA, turn("session-1", "vpn", 1.0, "t1")), (BOB, turn("session-2", "x", 2.0, "t2"))]
    )
    assert await store.set_feedback(BOB, TurnFeedback("t1", "down", "bad", 3.0)) is None
    stored = await store.set_feedback(ADA, TurnFeedback("t1", "down", "bad", 3.0))
    assert stored is not None and stored.previous_rating is None
    assert (stored.turn.rating, stored.turn.comment, stored.turn.deployment) == ("down", "bad", "primary")
    changed = await store.set_feedback(ADA, TurnFeedback("t1", "up", None, 4.0))
    assert changed is not None and (changed.previous_rating, changed.turn.rating) == ("down", "up")
    detail = await store.get_session(ADA, "session-1")
    assert detail is not None and (detail.turns[0].rating, detail.turns[0].comment) == ("up", None)
    bob = await store.get_session(BOB, "session-2")
    assert bob is not None and bob.turns[0].rating is None


async def test_a_version_1_file_is_upgraded_with_its_turns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(f"BEGIN; {MIGRATIONS[0]}; PRAGMA user_version = 1; COMMIT;")
    conn.execute("INSERT INTO sessions VALUES ('contoso', 'user-a', 'session-1', 'old', 1.0, 1.0)")
    conn.execute(
        "INSERT INTO turns (tenant, user_id, session_id, question, answer, sources, prompt_versions, "
        "deployment, model, timings, created_at) VALUES "
        "('contoso', 'user-a', 'session-1', 'old question', 'old answer', '[]', '{}', NULL, NULL, '{}', 1.0)"
    )
    conn.commit()
    conn.close()
    store = await SqliteHistoryStore.open(path)
    try:
        detail = await store.get_session(ADA, "session-1")
        assert detail is not None and detail.turns[0].question == "old question"
        assert detail.turns[0].turn_id is None, "an old turn has no id, so it cannot be rated"
        await store.add_turns([(ADA, turn("session-1", "new", 2.0, "t-new"))])
        assert await store.set_feedback(ADA, TurnFeedback("t-new", "down", None, 3.0)) is not None
    finally:
        await store.aclose()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


async def test_thumbs_down_turns_are_read_back_offline_with_their_earlier_turns(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    store = await SqliteHistoryStore.open(path)
    try:
        await store.add_turns(
            [
                (ADA, turn("session-1", "first", 1.0, "t1")),
                (ADA, turn("session-1", "second", 2.0, "t2")),
                (BOB, turn("session-2", "bob's", 3.0, "t3")),
            ]
        )
        await store.set_feedback(ADA, TurnFeedback("t2", "down", "outdated", 5.0))
        await store.set_feedback(BOB, TurnFeedback("t3", "up", None, 4.0))
    finally:
        await store.aclose()
    before = path.read_bytes()
    (rated,) = read_rated_turns(path, "down")
    assert (rated.tenant, rated.turn.turn_id, rated.turn.comment) == ("contoso", "t2", "outdated")
    assert [t.question for t in rated.earlier] == ["first"]
    assert path.read_bytes() == before, "nothing written"
