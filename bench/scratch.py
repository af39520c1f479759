"""A throwaway database, Redis prefix and runtime for benchmarks, removed afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from redis.asyncio import Redis

from kra_graphql.config import Settings
from kra_graphql.db import create_engine, unit_of_work
from kra_graphql.jobs.models import Job, JobKind
from kra_graphql.jobs.runner import JobHandler, run_job
from kra_graphql.migrate import upgrade_engine
from kra_graphql.runtime import Runtime

PG_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@asynccontextmanager
async def scratch_runtime(**settings: Any) -> AsyncIterator[Runtime]:
    name = f"kra_bench_{uuid.uuid4().hex[:8]}"
    prefix = f"kra-bench-{uuid.uuid4().hex[:8]}:"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    runtime = Runtime.create(
        Settings(
            database_url=PG_ADMIN.rsplit("/", 1)[0] + f"/{name}",
            redis_url=REDIS_URL,
            redis_prefix=prefix,
            **settings,
        )
    )
    try:
        engine = create_engine(runtime.settings)
        await upgrade_engine(engine)
        await engine.dispose()
        yield runtime
    finally:
        await runtime.close()
        redis: Redis = Redis.from_url(REDIS_URL)
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def run_here(
    runtime: Runtime, kind: JobKind, params: dict[str, Any], handler: JobHandler
) -> Job:
    """Create a job row and run it in this process, as a worker would."""
    async with unit_of_work(runtime.sessions) as session:
        job = Job(kind=kind, parameters=params)
        session.add(job)
    await run_job(runtime, job.id, job_try=1, handlers={kind: handler})
    async with runtime.sessions() as session:
        done = await session.get(Job, job.id)
    assert done is not None
    if done.error:
        raise RuntimeError(done.error)
    return done
