"""Progress of a running job: written to its row (the truth), then published as an event."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, update
from sqlmodel import col

from kra_graphql.db import utcnow
from kra_graphql.jobs.events import JobEvent, JobEventType, publish
from kra_graphql.jobs.models import Job, JobLog
from kra_graphql.jobs.states import TERMINAL_STATUSES
from kra_graphql.runtime import Runtime
from kra_graphql.webhooks.dispatch import record_deliveries, send_soon


class JobCancelled(Exception):
    """Raised at a step boundary once somebody asked to cancel the job."""


async def write_job(
    runtime: Runtime,
    job_id: str,
    values: dict[str, Any],
    event: JobEventType,
    *,
    message: str | None = None,
    log_level: str | None = None,
) -> Job:
    """Change a job row, bump its event sequence atomically and publish the new state.

    Every write that ends a job passes here, whoever makes it (a worker, a cancellation
    through the API): so here, in the same transaction, its webhook deliveries are
    recorded, and they are sent once it has committed."""
    deliveries: list[str] = []
    async with runtime.sessions() as session, session.begin():
        if log_level is not None and message is not None:
            await session.execute(
                insert(JobLog).values(job_id=job_id, level=log_level, message=message)
            )
        statement = (
            update(Job)
            .where(col(Job.id) == job_id)
            .values(**values, event_sequence=col(Job.event_sequence) + 1, updated_at=utcnow())
            .returning(Job)
        )
        job = (await session.scalars(statement)).one()
        if values.get("status") in TERMINAL_STATUSES:
            deliveries = await record_deliveries(session, job)
    await publish(runtime.redis, runtime.settings.redis_prefix, JobEvent.of(job, event, message))
    if deliveries:
        await send_soon(runtime, deliveries)
    return job


def percent(completed: int, total: int | None) -> int:
    if not total:
        return 0
    # 100 is reserved for a finished job.
    return min(99, completed * 100 // total)


class JobReporter:
    """Handed to a service: steps, progress, log lines and the cancellation check."""

    def __init__(self, runtime: Runtime, job: Job) -> None:
        self.runtime = runtime
        self.job_id = job.id
        self.total_steps = job.total_steps
        self.completed_steps = job.completed_steps
        self._cancel_key = f"{runtime.settings.redis_prefix}cancel:{job.id}"

    async def set_total(self, total_steps: int, *, step: str | None = None) -> None:
        self.total_steps = total_steps
        values: dict[str, Any] = {
            "total_steps": total_steps,
            "progress": percent(self.completed_steps, total_steps),
        }
        if step is not None:
            values["current_step"] = step
        await write_job(self.runtime, self.job_id, values, JobEventType.PROGRESS)

    async def step(self, name: str) -> None:
        """Start a step: the cancellation point of every job."""
        await self.check_cancelled()
        await write_job(self.runtime, self.job_id, {"current_step": name}, JobEventType.PROGRESS)

    async def advance(self, steps: int = 1) -> None:
        self.completed_steps += steps
        values = {
            "completed_steps": self.completed_steps,
            "progress": percent(self.completed_steps, self.total_steps),
        }
        await write_job(self.runtime, self.job_id, values, JobEventType.PROGRESS)

    async def log(self, message: str, *, level: str = "INFO") -> None:
        await write_job(
            self.runtime, self.job_id, {}, JobEventType.LOG, message=message, log_level=level
        )

    async def check_cancelled(self) -> None:
        if await self.runtime.redis.exists(self._cancel_key):
            raise JobCancelled
