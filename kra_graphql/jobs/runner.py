"""Run one attempt of a job inside a worker: lifecycle, retries, cancellation, liveness."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from arq import Retry

from kra_graphql.db import utcnow
from kra_graphql.errors import AppError
from kra_graphql.jobs.events import JobEventType
from kra_graphql.jobs.failures import describe, is_transient
from kra_graphql.jobs.models import Job, JobStatus
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.jobs.reporter import JobCancelled, JobReporter, write_job
from kra_graphql.kra.errors import KraError
from kra_graphql.logging import get_logger
from kra_graphql.metrics import observe_job
from kra_graphql.progress import JobOutcome, Progress, ResumeLater
from kra_graphql.runtime import Runtime

log = get_logger(__name__)


JobHandler = Callable[[Runtime, Progress, dict[str, Any]], Awaitable[JobOutcome]]


async def run_job(
    runtime: Runtime,
    job_id: str,
    *,
    job_try: int,
    handlers: Mapping[str, JobHandler],
    queue: JobQueue | None = None,
) -> str:
    """Returns the final status. Re-delivery of a finished job is a no-op. `queue` takes
    the next attempt of a job that resumes later."""
    async with runtime.sessions() as session:
        job = await session.get(Job, job_id)
    if job is None:
        log.warning("job.missing", job_id=job_id)
        return "MISSING"
    if JobStatus(job.status).is_terminal:
        return job.status
    keys = _Keys(runtime, job_id)
    if job.cancel_requested or await runtime.redis.exists(keys.cancel):
        return await _finish(runtime, job_id, JobStatus.CANCELLED, message="cancelled")
    handler = handlers.get(job.kind)
    if handler is None:
        return await _finish(
            runtime, job_id, JobStatus.FAILED, error=f"no handler for job kind {job.kind}"
        )

    # Alive before PROCESSING, so the recovery sweep never mistakes this start for a corpse.
    await runtime.redis.set(keys.alive, b"1", ex=runtime.settings.job_alive_ttl_s)
    job = await write_job(
        runtime,
        job_id,
        {"status": JobStatus.PROCESSING, "started_at": job.started_at or utcnow(), "error": None},
        JobEventType.STATUS,
        message=f"started (attempt {job_try})",
        log_level="INFO",
    )
    alive = asyncio.create_task(_keep_alive(runtime, keys.alive))
    try:
        outcome = await handler(runtime, JobReporter(runtime, job), dict(job.parameters))
    except JobCancelled:
        # ARQ's abort of the same request may land while this writes the end: shielded,
        # the row still ends CANCELLED instead of staying PROCESSING with nobody on it.
        return await asyncio.shield(
            _finish(runtime, job_id, JobStatus.CANCELLED, message="cancelled")
        )
    except ResumeLater as wait:
        if queue is None:
            return await _failed(runtime, job_id, wait, job_try=job_try)
        return await _resume_later(runtime, queue, job, wait)
    except asyncio.CancelledError:
        if await runtime.redis.exists(keys.cancel):  # ARQ abort after our own cancel request
            await _finish(runtime, job_id, JobStatus.CANCELLED, message="cancelled")
        raise  # otherwise the worker is stopping: ARQ hands the job to another worker
    except Exception as error:
        return await _failed(runtime, job_id, error, job_try=job_try)
    finally:
        alive.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await alive
        await runtime.redis.delete(keys.alive)

    status = JobStatus.PARTIAL if outcome.failures else JobStatus.COMPLETED
    result = {**outcome.result, "failures": outcome.failures}
    return await _finish(runtime, job_id, status, result=result)


async def _resume_later(runtime: Runtime, queue: JobQueue, job: Job, wait: ResumeLater) -> str:
    """The next attempt, queued for `wait.at`: ARQ holds it, so no worker waits, and the
    recovery sweep finds it known and leaves it be. A new attempt, not ARQ's Retry: its
    tries would eat the retry budget of every later step."""
    attempt = job.retry_count + 1
    await write_job(
        runtime,
        job.id,
        {"status": JobStatus.QUEUED, "retry_count": attempt, "current_step": wait.reason},
        JobEventType.STATUS,
        message=f"resumes at {wait.at.isoformat(timespec='minutes')}: {wait.reason}",
        log_level="INFO",
    )
    await queue.enqueue(job.id, attempt, not_before=wait.at)
    return JobStatus.QUEUED.value


class _Keys:
    def __init__(self, runtime: Runtime, job_id: str) -> None:
        prefix = runtime.settings.redis_prefix
        self.cancel = f"{prefix}cancel:{job_id}"
        self.alive = f"{prefix}alive:{job_id}"


async def _keep_alive(runtime: Runtime, key: str) -> None:
    ttl = runtime.settings.job_alive_ttl_s
    while True:
        await asyncio.sleep(ttl / 3)
        await runtime.redis.set(key, b"1", ex=ttl)


async def _failed(runtime: Runtime, job_id: str, error: Exception, *, job_try: int) -> str:
    settings = runtime.settings
    message = describe(error)
    if is_transient(error) and job_try <= settings.job_max_retries:
        delay = settings.job_retry_backoff_s * 2 ** (job_try - 1)
        log.warning("job.retrying", job_id=job_id, job_try=job_try, delay_s=delay, error=message)
        await write_job(
            runtime,
            job_id,
            {"status": JobStatus.QUEUED, "retry_count": job_try, "current_step": None},
            JobEventType.STATUS,
            message=f"retrying in {delay:g} s after: {message}",
            log_level="WARNING",
        )
        raise Retry(defer=delay) from error
    if not is_transient(error) and not _expected(error):
        log.error("job.crashed", job_id=job_id, exc_info=error)
    return await _finish(runtime, job_id, JobStatus.FAILED, error=message)


def _expected(error: Exception) -> bool:
    """Errors with a message meant for people; anything else is logged with its traceback."""
    return isinstance(error, AppError | KraError)


async def _finish(
    runtime: Runtime,
    job_id: str,
    status: JobStatus,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    message: str | None = None,
) -> str:
    values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "current_step": None}
    if status in {JobStatus.COMPLETED, JobStatus.PARTIAL}:
        values["progress"] = 100
    if result is not None:
        values["result"] = result
    if error is not None:
        values["error"] = error
    job = await write_job(
        runtime,
        job_id,
        values,
        JobEventType.STATUS,
        message=message or error or status.value.lower(),
        log_level="ERROR" if status is JobStatus.FAILED else "INFO",
    )
    observe_job(job)
    await runtime.redis.delete(_Keys(runtime, job_id).cancel)
    return status.value
