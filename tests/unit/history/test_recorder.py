"""HistoryRecorder: finished turns reach the store off the request path; a full queue drops, never blocks."""

from __future__ import annotations

import time
from pathlib import Path

from chatfleet.chat.history import HistoryRecorder, Owner, SqliteHistoryStore, TurnRecord
from tests.helpers.history_stores import StorePlace

ADA = Owner("contoso", "user-a")


def turn(session_id: str, question: str, at: float) -> TurnRecord:
    return TurnRecord(session_id, question, "answer", [], {}, None, None, {}, at)


async def test_submitted_turns_are_written_and_closing_flushes_the_queue(place: StorePlace) -> None:
    recorder = HistoryRecorder(await place.open(), queue_size=100, retention_s=3600, purge_interval_s=3600)
    recorder.start()
    for i in range(20):
        assert recorder.submit(ADA, turn("session-1", f"q{i}", 1e12 + i))
    await recorder.aclose()
    reopened = await place.open()
    try:
        detail = await reopened.get_session(ADA, "session-1")
        assert detail is not None and [t.question for t in detail.turns] == [f"q{i}" for i in range(20)]
    finally:
        await reopened.aclose()


async def test_a_full_queue_drops_the_turn_and_counts_it(tmp_path: Path) -> None:
    drops: list[int] = []
    store = await SqliteHistoryStore.open(tmp_path / "history.sqlite")
    recorder = HistoryRecorder(
        store, queue_size=2, retention_s=3600, purge_interval_s=3600, on_drop=lambda: drops.append(1)
    )  # not started: nothing drains the queue
    now = time.time()  # recent: the purge that runs at start must keep these
    assert recorder.submit(ADA, turn("session-1", "q1", now))
    assert recorder.submit(ADA, turn("session-1", "q2", now))
    assert not recorder.submit(ADA, turn("session-1", "q3", now))
    assert drops == [1]
    recorder.start()
    await recorder.flush()
    detail = await store.get_session(ADA, "session-1")
    assert detail is not None and [t.question for t in detail.turns] == ["q1", "q2"]
    await recorder.aclose()


async def test_the_purge_uses_the_retention_period(tmp_path: Path) -> None:
    store = await SqliteHistoryStore.open(tmp_path / "history.sqlite")
    recorder = HistoryRecorder(
        store, queue_size=10, retention_s=100, purge_interval_s=3600, clock=lambda: 1000.0
    )
    await store.add_turns([(ADA, turn("expired-1", "old", 899.0)), (ADA, turn("current-1", "new", 901.0))])
    assert await recorder.purge_now() == 1
    assert [s.id for s in (await store.list_sessions(ADA, limit=5)).sessions] == ["current-1"]
    await store.aclose()
