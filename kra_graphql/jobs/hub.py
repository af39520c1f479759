"""One Redis listener per API process, fanned out to bounded per-subscriber queues.

Each event is decoded once and the same object is handed to every subscriber. A
PROGRESS event replaces an unread PROGRESS of the same job and step at the end of a
subscriber's queue (the latest state is what a progress bar needs), so a slow subscriber
skips intermediate progress instead of falling behind. When a queue is full anyway, other
non-status events coalesce too; STATUS events are never dropped, so every subscriber
sees the terminal status.

A subscriber that may have missed events (the hub reconnected to Redis, or nothing
reached it for `resync_after_s`, as when a writer could not publish) is told so by a
`None` from `next()`, and re-reads what it shows. One timer for the whole hub does that:
a timer per subscriber and event cost as much as the rest of a delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable

from redis.asyncio import Redis

from kra_graphql.jobs.events import JobEvent, JobEventType, events_channel
from kra_graphql.logging import get_logger

log = get_logger(__name__)

Match = Callable[[JobEvent], bool]
RECONNECT_DELAY_S = 1.0
RESYNC_AFTER_S = 10.0


class Subscriber:
    """One subscription's queue. Unread progress of a job is replaced by its newest, and a
    progress event waits until `progress_interval_s` after the previous one delivered to
    this subscriber (still replaced meanwhile): a progress bar gains nothing from more,
    and every message costs the API a send per subscriber. A new current step, the
    progress that completes the last step, status and log events are never held, and a
    progress event queued before one goes at once."""

    def __init__(self, match: Match, limit: int, progress_interval_s: float = 0.0) -> None:
        self.match = match
        self.limit = limit
        self.progress_interval_s = progress_interval_s
        self._pending: deque[JobEvent] = deque()
        self._ready = asyncio.Event()
        self._last_progress = -math.inf
        self._last_step: str | None = None
        self._stale = False
        # Whether an event reached this subscriber since the hub's last look.
        self.heard = False
        self.coalesced = 0

    def offer(self, event: JobEvent) -> None:
        if not self.match(event):
            return
        self.heard = True
        if event.type is JobEventType.PROGRESS and self._pending:
            tail = self._pending[-1]
            if (
                tail.type is JobEventType.PROGRESS
                and tail.job_id == event.job_id
                and tail.current_step == event.current_step
            ):
                # The subscriber has not read the last progress yet: only the newest counts
                # (a new step is kept: it tells what the job went through).
                self._pending[-1] = event
                self.coalesced += 1
                return
        if len(self._pending) >= self.limit and event.type is not JobEventType.STATUS:
            self.coalesced += 1
            if self._replace_same_job(event):
                return
            self._drop_oldest_droppable()
        self._pending.append(event)
        self._ready.set()

    def _replace_same_job(self, event: JobEvent) -> bool:
        """Only the newest pending event may be replaced: the queue stays in sequence order."""
        tail = self._pending[-1] if self._pending else None
        if (
            tail is not None
            and tail.job_id == event.job_id
            and tail.type is not JobEventType.STATUS
        ):
            self._pending[-1] = event
            return True
        return False

    def _drop_oldest_droppable(self) -> None:
        for pending in self._pending:
            if pending.type is not JobEventType.STATUS:
                self._pending.remove(pending)
                return

    @property
    def pending(self) -> int:
        return len(self._pending)

    def resync(self) -> None:
        """Events may have been missed: `next()` says so once the queue is drained."""
        self._stale = True
        self._ready.set()

    async def next(self) -> JobEvent | None:
        """The next event, or None when events may have been missed since the last."""
        while True:
            while not self._pending:
                if self._stale:
                    self._stale = False
                    return None
                self._ready.clear()
                await self._ready.wait()
            head = self._pending[0]
            if head.type is not JobEventType.PROGRESS:
                return self._pending.popleft()
            hold = self._last_progress + self.progress_interval_s - time.monotonic()
            if (
                hold <= 0
                or len(self._pending) > 1
                or head.current_step != self._last_step
                or head.reached_total
            ):
                self._last_progress = time.monotonic()
                self._last_step = head.current_step
                return self._pending.popleft()
            # Only a progress event is queued and it is too early: wait for the interval
            # to pass or for another event to arrive behind it. A timer that sets the
            # flag, not asyncio.timeout: cancelling the wait costs more than the delivery.
            self._ready.clear()
            timer = asyncio.get_running_loop().call_later(hold, self._ready.set)
            try:
                await self._ready.wait()
            finally:
                timer.cancel()


class JobEventHub:
    def __init__(
        self,
        redis: Redis,
        prefix: str,
        *,
        queue_limit: int = 64,
        progress_interval_s: float = 0.0,
        resync_after_s: float = RESYNC_AFTER_S,
    ) -> None:
        self._redis = redis
        self._channel = events_channel(prefix)
        self._queue_limit = queue_limit
        self._progress_interval_s = progress_interval_s
        self._resync_after_s = resync_after_s
        self._subscribers: set[Subscriber] = set()
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @contextlib.asynccontextmanager
    async def subscribe(self, match: Match) -> AsyncIterator[Subscriber]:
        """Events published from the moment this returns are delivered to the subscriber."""
        subscriber = Subscriber(match, self._queue_limit, self._progress_interval_s)
        if self._listener is None or self._listener.done():
            self._listening.clear()
            self._listener = asyncio.create_task(self._run(), name="job-event-hub")
        await self._listening.wait()
        # Counted once Redis has confirmed the channel: from here nothing published is lost.
        self._subscribers.add(subscriber)
        try:
            yield subscriber
        finally:
            self._subscribers.discard(subscriber)

    async def close(self) -> None:
        """Stop listening and close the hub's own Redis connection."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        await self._redis.aclose()

    async def _run(self) -> None:
        ticker = asyncio.create_task(self._tick(), name="job-event-hub-resync")
        try:
            await self._listen()
        finally:
            ticker.cancel()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._resync_after_s)
            self.resync_idle()

    def resync_idle(self) -> None:
        """Tell every subscriber that heard nothing since the last call to re-read."""
        for subscriber in tuple(self._subscribers):
            if not subscriber.heard:
                subscriber.resync()
            subscriber.heard = False

    async def _listen(self) -> None:
        reconnecting = False
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            self._dispatch(JobEvent.decode(message["data"]))
                        elif message["type"] == "subscribe":
                            # Confirmed by Redis: a publish on another connection that
                            # arrives before this point is not delivered to us.
                            self._listening.set()
                            if reconnecting:
                                # Whatever was published while we were away is lost.
                                for subscriber in tuple(self._subscribers):
                                    subscriber.resync()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("job_event_hub.reconnecting", error=str(error))
                reconnecting = True
                await asyncio.sleep(RECONNECT_DELAY_S)

    def _dispatch(self, event: JobEvent) -> None:
        for subscriber in tuple(self._subscribers):
            subscriber.offer(event)
