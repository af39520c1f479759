"""The per-subscriber queue of the job event hub: order kept, status never dropped."""

from __future__ import annotations

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


async def drain(subscriber: Subscriber, count: int) -> list[JobEvent]:
    return [await subscriber.next() for _ in range(count)]


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
