"""Job creation under concurrency: batched into shared transactions, every job queued once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from arq.constants import job_key_prefix
from sqlalchemy import delete, event, select
from sqlmodel import col

from kra_graphql.jobs.models import Job, JobKind, JobStatus
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.jobs.service import JobSubmitter
from kra_graphql.runtime import Runtime

PARAMS = {"date": "2025-05-03", "meet": 1, "raceNumbers": [1], "enrich": False}


@pytest.fixture
async def side_queue(runtime: Runtime, job_queue: JobQueue) -> AsyncIterator[JobQueue]:
    """A queue no worker drains, removed afterwards with the rows it was filled for."""
    queue = JobQueue(
        job_queue.pool, prefix=job_queue.prefix, queue_name=f"{job_queue.queue_name}:submitter"
    )
    yield queue
    arq_ids = await queue.pool.zrange(queue.queue_name, 0, -1)
    if arq_ids:
        await queue.pool.delete(*(job_key_prefix + arq_id.decode() for arq_id in arq_ids))
    await queue.pool.delete(queue.queue_name)
    async with runtime.sessions() as session:
        await session.execute(delete(Job).where(col(Job.requested_by) == "submitter-test"))
        await session.commit()


async def test_concurrent_submissions_share_inserts_and_are_each_queued_once(
    runtime: Runtime, side_queue: JobQueue
) -> None:
    inserts = 0

    def count(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        nonlocal inserts
        inserts += statement.startswith("INSERT INTO jobs")

    submitter = JobSubmitter(runtime, side_queue)
    event.listen(runtime.engine.sync_engine, "before_cursor_execute", count)
    try:
        jobs = await asyncio.gather(
            *(
                submitter.submit(JobKind.COLLECTION, PARAMS, requested_by="submitter-test")
                for _ in range(25)
            )
        )
    finally:
        event.remove(runtime.engine.sync_engine, "before_cursor_execute", count)

    ids = [job.id for job in jobs]
    assert len(set(ids)) == 25
    assert 1 <= inserts < 25  # the first write carries one, the second all the others
    async with runtime.sessions() as session:
        stored = (await session.scalars(select(Job).where(col(Job.id).in_(ids)))).all()
    assert {job.id for job in stored} == set(ids)
    assert {job.status for job in stored} == {JobStatus.QUEUED}
    queued = {
        arq_id.decode() for arq_id in await side_queue.pool.zrange(side_queue.queue_name, 0, -1)
    }
    assert queued == {side_queue.arq_id(job_id, 0) for job_id in ids}
    for job_id in ids[:3]:
        assert await side_queue.is_known(job_id, 0)


async def test_enqueueing_new_jobs_again_replaces_nothing(
    runtime: Runtime, side_queue: JobQueue
) -> None:
    job = await JobSubmitter(runtime, side_queue).submit(
        JobKind.COLLECTION, PARAMS, requested_by="submitter-test"
    )
    key = job_key_prefix + side_queue.arq_id(job.id, 0)
    before = await side_queue.pool.get(key)
    await asyncio.sleep(0.01)
    await side_queue.enqueue_new([job.id])
    assert await side_queue.pool.get(key) == before
    assert await side_queue.pool.zcard(side_queue.queue_name) == 1
