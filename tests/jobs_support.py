"""Submit jobs and wait for them, as the API will."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from kra_graphql.jobs.models import Job, JobKind, JobStatus
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.jobs.service import submit_job
from kra_graphql.runtime import Runtime


async def load_job(runtime: Runtime, job_id: str) -> Job:
    async with runtime.sessions() as session:
        job = await session.get(Job, job_id)
    assert job is not None
    return job


async def wait_job(
    runtime: Runtime,
    job_id: str,
    *,
    until: Callable[[Job], bool] = lambda job: JobStatus(job.status).is_terminal,
    within_s: float = 60,
) -> Job:
    deadline = time.monotonic() + within_s
    while True:
        job = await load_job(runtime, job_id)
        if until(job):
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {job.status} at step {job.current_step}")
        await asyncio.sleep(0.05)


async def run_to_end(
    runtime: Runtime, queue: JobQueue, kind: JobKind, params: dict[str, Any], within_s: float = 90
) -> Job:
    job = await submit_job(runtime, queue, kind, params, requested_by="test")
    return await wait_job(runtime, job.id, within_s=within_s)


def result_of(job: Job) -> dict[str, Any]:
    assert job.result is not None, f"job {job.id} ended {job.status} without a result"
    return job.result
