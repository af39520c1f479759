"""Is each dependency reachable? Used by /health/ready and the `health` query."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlmodel import col

from kra_graphql.jobs.models import Job, JobStatus
from kra_graphql.runtime import Runtime

CHECK_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class HealthReport:
    database: bool
    redis: bool
    worker: bool
    queued_jobs: int | None
    running_jobs: int | None
    # ARQ's own heartbeat line: time, jobs complete, failed, retried, ongoing, queued.
    worker_heartbeat: str | None = None

    @property
    def ready(self) -> bool:
        return self.database and self.redis

    @property
    def degraded(self) -> list[str]:
        """What is down while the API can still answer: no worker means no job progresses."""
        return [] if self.worker else ["worker"]


def worker_heartbeat_key(queue_name: str) -> str:
    # The key ARQ's worker refreshes on every health check.
    return f"{queue_name}:health-check"


async def check_health(runtime: Runtime, *, with_counts: bool = True) -> HealthReport:
    database, counts = await _database(runtime, with_counts=with_counts)
    redis_up, heartbeat = await _redis_and_worker(runtime)
    return HealthReport(
        database=database,
        redis=redis_up,
        worker=heartbeat is not None,
        worker_heartbeat=heartbeat,
        queued_jobs=counts.get(JobStatus.QUEUED) if database and with_counts else None,
        running_jobs=counts.get(JobStatus.PROCESSING) if database and with_counts else None,
    )


async def _database(runtime: Runtime, *, with_counts: bool) -> tuple[bool, dict[str, int]]:
    async def probe() -> dict[str, int]:
        async with runtime.sessions() as session:
            await session.execute(text("SELECT 1"))
            if not with_counts:
                return {}
            rows = await session.execute(
                select(col(Job.status), func.count())
                .where(col(Job.status).in_([JobStatus.QUEUED, JobStatus.PROCESSING]))
                .group_by(col(Job.status))
            )
            counts = {JobStatus.QUEUED.value: 0, JobStatus.PROCESSING.value: 0}
            counts.update({status: int(count) for status, count in rows.tuples()})
            return counts

    try:
        return True, await asyncio.wait_for(probe(), CHECK_TIMEOUT_S)
    except Exception:
        return False, {}


async def _redis_and_worker(runtime: Runtime) -> tuple[bool, str | None]:
    async def probe() -> tuple[bool, str | None]:
        await runtime.redis.ping()
        heartbeat = await runtime.redis.get(worker_heartbeat_key(runtime.settings.arq_queue_name))
        if heartbeat is None:
            return True, None
        return True, heartbeat.decode(errors="replace") if isinstance(heartbeat, bytes) else str(
            heartbeat
        )

    try:
        return await asyncio.wait_for(probe(), CHECK_TIMEOUT_S)
    except Exception:
        return False, None
