"""`QualitySampler`: scores a share of live answers for groundedness, off the request path.

A finished turn is offered after its closing line went out; a random share (`CHATFLEET_QUALITY_SAMPLE_RATE`)
goes on a bounded queue, and one task scores it on a worker thread with the same rule `chatfleet eval` uses
(`chatfleet.contracts.groundedness`), so production and eval numbers are comparable. Scoring embeds every
cited sentence, far too slow for time-to-first-token; when it falls behind and the queue is full, the sample
is dropped and counted instead of holding anything up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from chatfleet.contracts.groundedness import Groundedness, Source

log = logging.getLogger("chatfleet.chat.quality")


@dataclass(frozen=True)
class AnswerSample:
    """What scoring needs of one turn, and the labels its score is reported under."""

    answer: str
    sources: Sequence[Source]
    prompt_version: str
    deployment: str


class QualitySampler:
    def __init__(
        self,
        groundedness: Groundedness,
        *,
        rate: float,
        queue_size: int,
        observe: Callable[[AnswerSample, float], None],
        on_drop: Callable[[], None] = lambda: None,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.groundedness = groundedness
        self.rate = rate
        self.observe = observe
        self.on_drop = on_drop
        self.draw = draw
        self._queue: asyncio.Queue[AnswerSample] = asyncio.Queue(maxsize=queue_size)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="quality-score")
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._score_forever(), name="quality-scorer")

    def offer(self, sample: AnswerSample) -> bool:
        """Queues the turn when the draw selects it; False when not drawn or dropped (queue full: counted)."""
        if self.draw() >= self.rate:
            return False
        try:
            self._queue.put_nowait(sample)
        except asyncio.QueueFull:
            self.on_drop()
            return False
        return True

    async def flush(self) -> None:
        """Waits until every queued sample is scored."""
        await self._queue.join()

    async def _score_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            sample = await self._queue.get()
            try:
                score = await loop.run_in_executor(
                    self._executor, self.groundedness.score, sample.answer, sample.sources
                )
                if score is not None:  # a refusal has nothing to ground
                    self.observe(sample, score)
            except Exception:
                log.exception("quality: scoring a sampled answer failed")
            finally:
                self._queue.task_done()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=False, cancel_futures=True)
