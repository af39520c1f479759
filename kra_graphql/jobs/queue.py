"""Our side of ARQ: enqueue, abort and re-deliver, with its sharp edges filed off.

- ARQ refuses a `_job_id` while a job or a kept result with that id exists, so every
  attempt of one of our jobs gets its own ARQ id: `<prefix><job id>:<attempt>`.
- ARQ's abort is only noticed by a worker between jobs when `max_jobs=1`; runners
  also poll our own cancel flag (see runner.py), so abort is a best-effort extra.
- ARQ has no progress reporting; runners write progress to the job row and publish it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from arq import ArqRedis, create_pool
from arq.connections import RedisSettings
from arq.constants import (
    abort_jobs_ss,
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
)
from arq.jobs import serialize_job
from arq.utils import timestamp_ms

from kra_graphql.config import Settings
from kra_graphql.runtime import require_redis_url

RUN_JOB = "run_job"


class JobQueue:
    def __init__(self, pool: ArqRedis, *, prefix: str, queue_name: str) -> None:
        self.pool = pool
        self.prefix = prefix
        self.queue_name = queue_name

    @classmethod
    async def connect(cls, settings: Settings) -> JobQueue:
        pool = await create_pool(
            RedisSettings.from_dsn(require_redis_url(settings)),
            default_queue_name=settings.arq_queue_name,
        )
        return cls(pool, prefix=settings.redis_prefix, queue_name=settings.arq_queue_name)

    async def close(self) -> None:
        await self.pool.aclose()

    def arq_id(self, job_id: str, attempt: int) -> str:
        return f"{self.prefix}{job_id}:{attempt}"

    async def enqueue(
        self, job_id: str, attempt: int, *, not_before: datetime | None = None
    ) -> bool:
        """False when this attempt is already queued, running or finished."""
        queued = await self.pool.enqueue_job(
            RUN_JOB,
            job_id,
            _job_id=self.arq_id(job_id, attempt),
            _queue_name=self.queue_name,
            _defer_until=not_before,
        )
        return queued is not None

    async def enqueue_new(self, job_ids: Sequence[str]) -> None:
        """First attempts of jobs just created, in one round trip. Their ARQ ids have never
        been used, so ARQ's check-then-set transaction (three round trips a job) is not
        needed: `SET NX` keeps a repeated call from replacing a job ARQ already holds."""
        now = timestamp_ms()
        async with self.pool.pipeline(transaction=True) as pipe:
            for job_id in job_ids:
                arq_id = self.arq_id(job_id, 0)
                body = serialize_job(
                    RUN_JOB, (job_id,), {}, None, now, serializer=self.pool.job_serializer
                )
                pipe.set(job_key_prefix + arq_id, body, px=self.pool.expires_extra_ms, nx=True)
                pipe.zadd(self.queue_name, {arq_id: now})
            await pipe.execute()

    async def abort(self, job_id: str, attempt: int) -> None:
        # ARQ's Job.abort() waits for the result; we only file the request and rely on
        # the runner's own cancel flag to stop a running attempt.
        await self.pool.zadd(abort_jobs_ss, {self.arq_id(job_id, attempt): timestamp_ms()})

    async def is_known(self, job_id: str, attempt: int) -> bool:
        arq_id = self.arq_id(job_id, attempt)
        return bool(await self.pool.exists(job_key_prefix + arq_id, result_key_prefix + arq_id))

    async def release(self, job_id: str, attempt: int) -> None:
        """Let another worker pick up an attempt whose worker died."""
        await self.pool.delete(in_progress_key_prefix + self.arq_id(job_id, attempt))

    def cancel_key(self, job_id: str) -> str:
        return f"{self.prefix}cancel:{job_id}"

    def alive_key(self, job_id: str) -> str:
        return f"{self.prefix}alive:{job_id}"
