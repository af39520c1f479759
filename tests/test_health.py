"""Health over GraphQL and plain HTTP, against the real server, worker, database and Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from arq import create_pool
from arq.connections import RedisSettings
from gql import gql
from gql.client import AsyncClientSession
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col

from kra_graphql.config import Settings
from kra_graphql.embedded_redis import embedded_redis_server
from kra_graphql.jobs.models import Job, JobKind, JobStatus
from tests.conftest import settings_env
from tests.support import Process, free_port, wait_http_ok

HEALTH = gql("{ health { database redis worker queuedJobs runningJobs } }")


@pytest.fixture
async def two_jobs(
    sessions: async_sessionmaker[AsyncSession], redis_keys: str
) -> AsyncIterator[list[Job]]:
    jobs = [
        Job(id=f"job_{uuid.uuid4().hex}", kind=JobKind.COLLECTION, status=JobStatus.QUEUED),
        Job(id=f"job_{uuid.uuid4().hex}", kind=JobKind.RESULTS, status=JobStatus.PROCESSING),
    ]
    async with sessions() as session, session.begin():
        session.add_all(jobs)
    yield jobs
    async with sessions() as session, session.begin():
        await session.execute(delete(Job).where(col(Job.id).in_([job.id for job in jobs])))


async def test_health_reports_each_dependency_and_job_counts(
    gql_session: AsyncClientSession, worker_process: Process, two_jobs: list[Job]
) -> None:
    result = await gql_session.execute(HEALTH)
    assert result["health"] == {
        "database": "UP",
        "redis": "UP",
        "worker": "UP",
        "queuedJobs": 1,
        "runningJobs": 1,
    }


async def test_worker_consumes_jobs_from_the_run_queue(
    settings: Settings, worker_process: Process, redis_keys: str
) -> None:
    pool = await create_pool(
        RedisSettings.from_dsn(settings.redis_url or ""),
        default_queue_name=settings.arq_queue_name,
    )
    try:
        job = await pool.enqueue_job("ping", _job_id=f"{redis_keys}ping-{uuid.uuid4().hex}")
        assert job is not None
        assert await job.result(timeout=20) == "pong"
    finally:
        await pool.aclose()


async def test_liveness_and_readiness(api_url: str) -> None:
    async with httpx.AsyncClient(base_url=api_url) as client:
        live = await client.get("/health")
        ready = await client.get("/health/ready")
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json()["database"] == "UP"
    assert ready.json()["redis"] == "UP"


async def test_readiness_names_the_dependency_that_is_down(
    settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    """A server whose Redis goes away answers 503 and says Redis is DOWN."""
    port = free_port()
    with embedded_redis_server() as redis_url:
        env = settings_env(settings.model_copy(update={"redis_url": redis_url}))
        server = Process(["serve", "--port", str(port)], env, tmp_path / "api.log")
        try:
            wait_http_ok(f"http://127.0.0.1:{port}/health/ready", process=server)
        except Exception:
            server.stop()
            raise
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            ready = await client.get("/health/ready")
            health = await client.post("/graphql", json={"query": "{ health { database redis } }"})
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable"
        assert ready.json()["database"] == "UP"
        assert ready.json()["redis"] == "DOWN"
        assert health.json()["data"]["health"] == {"database": "UP", "redis": "DOWN"}
    finally:
        server.stop()
