"""Create, cancel, retry and recover jobs. Rows first, queue second: never the reverse."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlmodel import col

from kra_graphql.db import insert_new, table_of, utcnow
from kra_graphql.errors import BadUserInput, NotFound
from kra_graphql.jobs.events import JobEventType
from kra_graphql.jobs.models import TERMINAL_STATUSES, Job, JobKind, JobStatus, new_job
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.jobs.reporter import write_job
from kra_graphql.logging import get_logger
from kra_graphql.runtime import Runtime

log = get_logger(__name__)

RETRYABLE_STATUSES = frozenset({JobStatus.FAILED, JobStatus.PARTIAL, JobStatus.CANCELLED})
# A queued job younger than this may still be on its way into the queue.
ENQUEUE_GRACE = timedelta(seconds=30)


async def submit_job(
    runtime: Runtime,
    queue: JobQueue,
    kind: JobKind,
    parameters: dict[str, Any],
    *,
    requested_by: str | None = None,
    parent_id: str | None = None,
) -> Job:
    job = new_job(kind, parameters, requested_by=requested_by, parent_id=parent_id)
    await _create(runtime, queue, [job])
    return job


async def _create(runtime: Runtime, queue: JobQueue, jobs: Sequence[Job]) -> None:
    """Commit the rows, then enqueue them: a worker can never see a job that does not exist.
    The rows go in as one INSERT of many rows, atomic on its own (Core, not the ORM's
    unit of work: a fraction of the cost for rows that are only ever inserted here)."""
    table = table_of(Job)
    rows = [{column.key: getattr(job, column.key) for column in table.columns} for job in jobs]
    async with runtime.autocommit() as session:
        await session.execute(insert(table), rows)
    try:
        await queue.enqueue_new([job.id for job in jobs])
    except Exception as error:
        # The rows stay QUEUED; the recovery sweep enqueues them once Redis is back.
        log.warning("job.enqueue_failed", job_ids=[job.id for job in jobs], error=str(error))


async def create_once(runtime: Runtime, queue: JobQueue, jobs: Sequence[Job]) -> list[str]:
    """Create and queue the jobs whose ids are not taken yet; returns the ids it created.
    An id derived from what a job is for (a day, a parent's step) makes creating it again,
    from any process at any time, a no-op."""
    table = table_of(Job)
    rows = [{column.key: getattr(job, column.key) for column in table.columns} for job in jobs]
    async with runtime.autocommit() as session:
        created = await insert_new(session, table, rows, key="id")
    if created:
        try:
            await queue.enqueue_new(created)
        except Exception as error:
            log.warning("job.enqueue_failed", job_ids=created, error=str(error))
    return created


async def _enqueue(runtime: Runtime, queue: JobQueue, job: Job) -> None:
    try:
        await queue.enqueue(job.id, job.retry_count)
    except Exception as error:
        # The row stays QUEUED; the recovery sweep enqueues it once Redis is back.
        log.warning("job.enqueue_failed", job_id=job.id, error=str(error))


class JobSubmitter:
    """Job creation for the API process. Submissions that arrive while one batch is being
    written go together into the next: one transaction and one Redis round trip for all
    of them, so creation keeps up with many concurrent clients."""

    def __init__(self, runtime: Runtime, queue: JobQueue) -> None:
        self._runtime = runtime
        self._queue = queue
        self._pending: list[tuple[Job, asyncio.Future[Job]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(
        self,
        kind: JobKind,
        parameters: dict[str, Any],
        *,
        requested_by: str | None = None,
        parent_id: str | None = None,
    ) -> Job:
        job = new_job(kind, parameters, requested_by=requested_by, parent_id=parent_id)
        created: asyncio.Future[Job] = asyncio.get_running_loop().create_future()
        self._pending.append((job, created))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_batches(), name="job-submitter")
        return await created

    async def _write_batches(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await _create(self._runtime, self._queue, [job for job, _ in batch])
                except Exception as error:
                    for _, created in batch:
                        if not created.done():
                            created.set_exception(error)
                else:
                    for job, created in batch:
                        if not created.done():
                            created.set_result(job)
        finally:
            self._writer = None


async def get_job(runtime: Runtime, job_id: str) -> Job:
    async with runtime.sessions() as session:
        job = await session.get(Job, job_id)
    if job is None:
        raise NotFound(f"no job with id {job_id}", field="id")
    return job


async def cancel_job(runtime: Runtime, queue: JobQueue, job_id: str) -> Job:
    """Queued jobs end at once; running ones stop at their next step. A job's children
    are cancelled with it."""
    job = await get_job(runtime, job_id)
    if JobStatus(job.status) in TERMINAL_STATUSES:
        return job
    job = await _cancel_one(runtime, queue, job)
    async with runtime.sessions() as session:
        children = await session.scalars(
            select(col(Job.id)).where(
                col(Job.parent_id) == job_id, col(Job.status).not_in(TERMINAL_STATUSES)
            )
        )
        child_ids = list(children.all())
    for child in child_ids:
        await cancel_job(runtime, queue, child)
    return job


async def _cancel_one(runtime: Runtime, queue: JobQueue, job: Job) -> Job:
    job_id = job.id
    await runtime.redis.set(queue.cancel_key(job_id), b"1", ex=runtime.settings.job_timeout_s)
    if job.status == JobStatus.QUEUED:
        # Keeps ARQ from starting it. A running attempt is left to stop at its next step:
        # ARQ's abort would cancel it anywhere, a transaction or the write of its end too.
        await queue.abort(job_id, job.retry_count)
        return await write_job(
            runtime,
            job_id,
            {"status": JobStatus.CANCELLED, "cancel_requested": True, "finished_at": utcnow()},
            JobEventType.STATUS,
            message="cancelled before it started",
            log_level="INFO",
        )
    return await write_job(
        runtime,
        job_id,
        {"cancel_requested": True},
        JobEventType.LOG,
        message="cancellation requested",
        log_level="INFO",
    )


async def retry_job(runtime: Runtime, queue: JobQueue, job_id: str) -> Job:
    """Run a finished job again as a new attempt; its writes are idempotent upserts.
    Its children that did not complete are queued again first, so that a parent
    following them never sees them in their old end."""
    job = await get_job(runtime, job_id)
    if JobStatus(job.status) not in RETRYABLE_STATUSES:
        raise BadUserInput(f"a {job.status} job cannot be retried", field="id")
    async with runtime.sessions() as session:
        children = await session.scalars(
            select(col(Job.id)).where(
                col(Job.parent_id) == job_id, col(Job.status).in_(RETRYABLE_STATUSES)
            )
        )
        child_ids = list(children.all())
    for child in child_ids:
        await retry_job(runtime, queue, child)
    await runtime.redis.delete(queue.cancel_key(job_id))
    job = await write_job(
        runtime,
        job_id,
        {
            "status": JobStatus.QUEUED,
            "retry_count": job.retry_count + 1,
            "cancel_requested": False,
            "progress": 0,
            "completed_steps": 0,
            "current_step": None,
            "error": None,
            "result": None,
            "finished_at": None,
        },
        JobEventType.STATUS,
        message="queued again",
        log_level="INFO",
    )
    await _enqueue(runtime, queue, job)
    return job


async def recover_jobs(runtime: Runtime, queue: JobQueue) -> list[str]:
    """Hand jobs of dead workers to live ones and enqueue jobs that never reached Redis.

    A running attempt refreshes a liveness key; when it has expired the worker is gone,
    and releasing ARQ's in-progress lock lets the next worker take the attempt over.
    """
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(Job).where(col(Job.status).in_([JobStatus.QUEUED, JobStatus.PROCESSING]))
        )
        jobs = list(rows.all())
    recovered: list[str] = []
    for job in jobs:
        if job.status == JobStatus.PROCESSING:
            if await runtime.redis.exists(queue.alive_key(job.id)):
                continue
            if await queue.is_known(job.id, job.retry_count):
                await queue.release(job.id, job.retry_count)
            else:
                await queue.enqueue(job.id, job.retry_count)
            recovered.append(job.id)
        elif utcnow() - job.updated_at > ENQUEUE_GRACE and not await queue.is_known(
            job.id, job.retry_count
        ):
            await queue.enqueue(job.id, job.retry_count)
            recovered.append(job.id)
    if recovered:
        log.info("jobs.recovered", job_ids=recovered)
    return recovered
