"""The per-subscriber queue of the job event hub: order kept, status never dropped."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime

from kra_graphql.jobs.events import JobEvent, JobEventType
from kra_graphql.jobs.hub import Subscriber

NOW = datetime(2025, 5, 3, tzinfo=UTC)


def event(
    sequence: int, type_: JobEventType, job_id: str = "job_a", status: str = "PROCESSING"
) -> JobEvent:
    return JobEvent(
        job_id=job_id, sequence=sequence, type=type_, message=None, at=NOW, kind="COLLECTION",
        status=status, progress=sequence, total_steps=100, completed_steps=sequence,
        current_step=None, estimated_completion=None, created_at=NOW, started_at=NOW,
        finished_at=None, parameters={}, result=None, error=None, retry_count=0,
        requested_by=None, parent_id=None,
    )  # fmt: skip


async def next_event(subscriber: Subscriber) -> JobEvent:
    received = await subscriber.next()
    assert received is not None, "a resync instead of an event"
    return received


async def drain(subscriber: Subscriber, count: int) -> list[JobEvent]:
    return [await next_event(subscriber) for _ in range(count)]


async def test_unread_progress_is_replaced_by_the_newest() -> None:
    subscriber = Subscriber(lambda e: True, limit=64)
    for sequence in range(1, 11):
        subscriber.offer(event(sequence, JobEventType.PROGRESS))
    subscriber.offer(event(11, JobEventType.STATUS, status="COMPLETED"))
    received = await drain(subscriber, 2)
    assert [e.sequence for e in received] == [10, 11]
    assert subscriber.coalesced == 9


async def test_a_full_queue_keeps_order_and_every_status() -> None:
    subscriber = Subscriber(lambda e: True, limit=4)
    offered = [
        event(1, JobEventType.LOG),
        event(2, JobEventType.STATUS),
        event(3, JobEventType.LOG),
        event(4, JobEventType.PROGRESS),
        event(5, JobEventType.LOG),
        event(6, JobEventType.STATUS, status="COMPLETED"),
        event(7, JobEventType.LOG, job_id="job_b"),
    ]
    for each in offered:
        subscriber.offer(each)
    received = await drain(subscriber, subscriber.pending)
    sequences = [e.sequence for e in received]
    assert sequences == sorted(sequences)
    assert {2, 6} <= set(sequences)


async def test_other_jobs_are_filtered_out() -> None:
    subscriber = Subscriber(lambda e: e.job_id == "job_a", limit=8)
    subscriber.offer(event(1, JobEventType.PROGRESS, job_id="job_b"))
    subscriber.offer(event(1, JobEventType.PROGRESS))
    assert [e.job_id for e in await drain(subscriber, 1)] == ["job_a"]


async def test_progress_is_held_to_the_interval_and_status_is_not() -> None:
    subscriber = Subscriber(lambda e: True, limit=64, progress_interval_s=0.3)
    subscriber.offer(event(1, JobEventType.PROGRESS))
    assert (await next_event(subscriber)).sequence == 1  # the first goes at once
    started = time.monotonic()
    subscriber.offer(event(2, JobEventType.PROGRESS))
    subscriber.offer(event(3, JobEventType.PROGRESS))
    assert (await next_event(subscriber)).sequence == 3  # the newest, after the interval
    assert time.monotonic() - started >= 0.25

    subscriber.offer(event(4, JobEventType.PROGRESS))
    waiting = asyncio.ensure_future(next_event(subscriber))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # held
    started = time.monotonic()
    subscriber.offer(event(5, JobEventType.STATUS, status="COMPLETED"))
    assert (await waiting).sequence == 4  # released by the status behind it, in order
    assert (await next_event(subscriber)).sequence == 5
    assert time.monotonic() - started < 0.1


async def test_a_new_step_is_not_held() -> None:
    subscriber = Subscriber(lambda e: True, limit=64, progress_interval_s=5)
    subscriber.offer(event(1, JobEventType.PROGRESS))
    await subscriber.next()
    subscriber.offer(dataclasses.replace(event(2, JobEventType.PROGRESS), current_step="race 2"))
    received = await asyncio.wait_for(next_event(subscriber), 1)
    assert received.current_step == "race 2"


async def test_the_progress_completing_the_last_step_is_not_held() -> None:
    subscriber = Subscriber(lambda e: True, limit=64, progress_interval_s=5)
    subscriber.offer(event(99, JobEventType.PROGRESS))
    await subscriber.next()
    subscriber.offer(event(100, JobEventType.PROGRESS))  # 100 of 100 steps
    received = await asyncio.wait_for(next_event(subscriber), 1)
    assert received.completed_steps == received.total_steps == 100


async def test_a_resync_is_told_once_after_the_queued_events() -> None:
    subscriber = Subscriber(lambda e: True, limit=64)
    subscriber.offer(event(1, JobEventType.LOG))
    subscriber.resync()
    assert (await next_event(subscriber)).sequence == 1
    assert await asyncio.wait_for(subscriber.next(), 1) is None
    waiting = asyncio.ensure_future(subscriber.next())
    await asyncio.sleep(0.05)
    assert not waiting.done()  # told once
    subscriber.offer(event(2, JobEventType.LOG))
    assert (await asyncio.wait_for(waiting, 1)) is not None
