"""`HistoryRecorder`: takes finished turns off the request path and writes them in the background.

A turn is handed over with `submit` (a non-blocking put on a bounded queue) after its closing line went out,
so the store's latency never reaches time-to-first-token or the stream. One writer drains the queue and
writes whatever has accumulated in one transaction; when the store falls behind and the queue is full, the
turn is dropped and counted (an answer is never held up for its history). A second task purges sessions
past the retention period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from chatfleet.chat.history.models import Owner, TurnRecord
from chatfleet.chat.history.store import HistoryStore

log = logging.getLogger("chatfleet.chat.history")

MAX_BATCH = 256


class HistoryRecorder:
    def __init__(
        self,
        store: HistoryStore,
        *,
        queue_size: int,
        retention_s: float,
        purge_interval_s: float,
        on_drop: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.retention_s = retention_s
        self.purge_interval_s = purge_interval_s
        self.on_drop = on_drop
        self.clock = clock
        self._queue: asyncio.Queue[tuple[Owner, TurnRecord]] = asyncio.Queue(maxsize=queue_size)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Starts the writer and the purger on the running loop (the app's lifespan)."""
        self._tasks = [
            asyncio.create_task(self._write_forever(), name="history-writer"),
            asyncio.create_task(self._purge_forever(), name="history-purge"),
        ]

    def submit(self, owner: Owner, turn: TurnRecord) -> bool:
        """Queues a finished turn; False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait((owner, turn))
        except asyncio.QueueFull:
            self.on_drop()
            log.warning("history queue full: a turn of tenant %s was not recorded", owner.tenant)
            return False
        return True

    async def flush(self) -> None:
        """Waits until every queued turn is written (or failed and logged)."""
        await self._queue.join()

    async def purge_now(self) -> int:
        removed = await self.store.purge(self.clock() - self.retention_s)
        if removed:
            log.info("history retention: removed %d sessions", removed)
        return removed

    async def _write_forever(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self.store.add_turns(batch)
            except Exception:
                log.exception("history: %d turns could not be written", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _purge_forever(self) -> None:
        while True:
            try:
                await self.purge_now()
            except Exception:
                log.exception("history retention purge failed; retrying at the next interval")
            await asyncio.sleep(self.purge_interval_s)

    async def aclose(self, grace_s: float = 5.0) -> None:
        """Writes what is queued (bounded by `grace_s`), then stops the tasks and closes the store."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), grace_s)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.store.aclose()
