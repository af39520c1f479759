"""Test run isolation: one PostgreSQL database, one Redis key prefix and queue per run.

Other runs share the same PostgreSQL and Redis, so this run creates its own database
and removes only that database and the Redis keys under its own prefix.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from gql import Client
from gql.client import AsyncClientSession
from gql.transport.httpx import HTTPXAsyncTransport
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from kra_graphql.access.keys import generate_key
from kra_graphql.collection.params import CollectParams
from kra_graphql.config import Settings
from kra_graphql.db import create_engine, create_sessionmaker
from kra_graphql.jobs.models import JobKind, JobStatus
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.migrate import upgrade_engine
from kra_graphql.races.dates import parse_race_date
from kra_graphql.runtime import Runtime
from tests.jobs_support import run_to_end
from tests.support import FAKE_LLM, Process, child_env, free_port, wait_http_ok

RUN_ID = uuid.uuid4().hex[:10]
# One key with every scope, given to every server this run starts (API_KEYS).
API_KEY = generate_key()
API_KEY_NAME = "tests"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "kra"
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_PREFIX = f"kra-test-{RUN_ID}:"


def pg_url(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


async def create_database(name: str) -> str:
    connection = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return pg_url(name)


async def drop_database(name: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def delete_redis_keys(pattern: str) -> None:
    client: Redis = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=pattern, count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def forget_aborts(prefix: str) -> None:
    """ARQ files abort requests in one shared sorted set: remove only ours."""
    client: Redis = Redis.from_url(REDIS_URL)
    try:
        ours = [m async for m, _ in client.zscan_iter("arq:abort") if prefix.encode() in m]
        if ours:
            await client.zrem("arq:abort", *ours)
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    name = f"kra_test_{RUN_ID}"
    url = await create_database(name)
    try:
        yield url
    finally:
        await drop_database(name)


@pytest.fixture(scope="session")
async def redis_keys() -> AsyncIterator[str]:
    """The Redis key prefix of this run; every key under it is removed at the end."""
    try:
        yield REDIS_PREFIX
    finally:
        # ARQ keeps job and result keys under its own fixed prefixes; our job ids
        # carry the run prefix, so one pattern finds both kinds.
        await delete_redis_keys(f"*{REDIS_PREFIX}*")
        await forget_aborts(REDIS_PREFIX)


@pytest.fixture(scope="session")
def replay_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The replay server (`kra-graphql replay-kra`) over the recorded fixtures."""
    port = free_port()
    log = tmp_path_factory.mktemp("replay") / "replay.log"
    process = Process(
        ["replay-kra", "--fixtures", str(FIXTURES), "--port", str(port), "--slow-s", "4"],
        child_env({}),
        log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http_ok(f"{url}/_admin/stats", process=process)
        yield url
    finally:
        process.stop()


@pytest.fixture(scope="session")
def settings(
    database_url: str,
    redis_keys: str,
    replay_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    # Short timeouts and backoffs keep fault and recovery tests fast.
    return Settings(
        database_url=database_url,
        redis_url=REDIS_URL,
        redis_prefix=redis_keys,
        arq_queue_name=f"{redis_keys}queue",
        worker_heartbeat_s=1,
        kra_api_base_url=replay_url,
        kra_rate_limit_per_min=0,
        kra_timeout_s=2,
        kra_backoff_base_s=0.02,
        job_max_retries=1,
        job_retry_backoff_s=0.2,
        job_alive_ttl_s=2,
        job_recovery_interval_s=1,
        daily_collection_enabled=False,
        race_day_enabled=False,
        api_keys=SecretStr(f"{API_KEY_NAME}:read+collect+predict+admin:{API_KEY}"),
        # Revocation tests wait this long; suites send hundreds of requests a minute.
        api_key_cache_s=1,
        rate_limit_per_min=100_000,
        rate_limit_burst=10_000,
        anonymous_rate_limit_per_min=100_000,
        anonymous_rate_limit_burst=10_000,
        # Shared by this run's API servers and workers, as in a deployment.
        export_dir=tmp_path_factory.mktemp("exports"),
    )


SETTINGS_ENV = (
    "database_url", "redis_url", "redis_prefix", "arq_queue_name", "worker_heartbeat_s",
    "worker_max_jobs", "kra_api_base_url", "kra_rate_limit_per_min", "kra_timeout_s",
    "kra_backoff_base_s", "job_max_retries", "job_retry_backoff_s", "job_alive_ttl_s",
    "job_recovery_interval_s", "daily_collection_enabled", "api_keys", "api_key_cache_s",
    "rate_limit_per_min", "rate_limit_burst", "anonymous_rate_limit_per_min",
    "anonymous_rate_limit_burst", "anonymous_read", "race_day_enabled", "race_day_results_hour",
    "race_day_results_retry_s", "race_day_results_rounds", "export_dir",
)  # fmt: skip


def settings_env(settings: Settings) -> dict[str, str]:
    """The same settings as environment variables for a subprocess."""
    values = {name.upper(): getattr(settings, name) for name in SETTINGS_ENV}
    return child_env(
        {
            name: value.get_secret_value() if isinstance(value, SecretStr) else str(value)
            for name, value in values.items()
            if value is not None
        }
    )


@pytest.fixture(scope="session")
def api_key() -> str:
    """A key with every scope (read, collect, predict, admin) that every test server accepts."""
    return API_KEY


def auth_headers(key: str = API_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    await upgrade_engine(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture(scope="session")
def api_url(
    engine: AsyncEngine, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real uvicorn server (`kra-graphql serve`) on this run's database and Redis."""
    port = free_port()
    log = tmp_path_factory.mktemp("api") / "api.log"
    process = Process(["serve", "--port", str(port)], settings_env(settings), log)
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/health", process=process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


@contextmanager
def api_server(settings: Settings, log: Path, **overrides: str) -> Iterator[tuple[str, Process]]:
    """Another `kra-graphql serve` on this run's database and Redis, with env overrides."""
    port = free_port()
    env = {**settings_env(settings), **overrides}
    process = Process(["serve", "--port", str(port)], env, log)
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/health", process=process)
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def fake_llm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The fake OpenAI-compatible chat server, standing in for a hosted LLM."""
    port = free_port()
    log = tmp_path_factory.mktemp("fake-llm") / "fake-llm.log"
    process = Process(["--port", str(port)], child_env({}), log, program=FAKE_LLM)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http_ok(f"{url}/_admin/stats", process=process)
        yield url
    finally:
        process.stop()


@pytest.fixture
async def fake_llm(fake_llm_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """Admin access to the fake LLM; its behaviour and counts are reset around each test."""
    async with httpx.AsyncClient(base_url=fake_llm_url) as admin:
        await admin.post("/_admin/reset")
        yield admin
        await admin.post("/_admin/reset")


def llm_env(fake_llm_url: str) -> dict[str, str]:
    """LLM settings for the worker only: the API keeps no LLM, as its tests expect."""
    return {
        "LLM_BASE_URL": fake_llm_url,
        "LLM_MODEL": "fake-1",
        "LLM_TIMEOUT_S": "5",
        "LLM_MAX_RETRIES": "1",
        "LLM_CONCURRENCY": "8",
    }


@pytest.fixture(scope="session")
def worker_process(
    engine: AsyncEngine,
    settings: Settings,
    fake_llm_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Process]:
    """A real `kra-graphql worker` consuming this run's queue, with its metrics endpoint."""
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    port = free_port()
    env = {**settings_env(settings), **llm_env(fake_llm_url), "WORKER_METRICS_PORT": str(port)}
    process = Process(["worker"], env, log)
    process.metrics_url = f"http://127.0.0.1:{port}/metrics"
    try:
        process.wait_for_output("worker.started")
        yield process
    finally:
        process.stop()


JANUARY = [("20250103", 3), ("20250104", 1), ("20250105", 1), ("20250110", 3), ("20250111", 1)]


@pytest.fixture(scope="session")
async def january(
    runtime: Runtime, job_queue: JobQueue, replay_url: str, worker_process: Process
) -> None:
    """Five recorded January race days, cards and results, collected once for the run."""
    async with httpx.AsyncClient(base_url=replay_url) as replay:
        await replay.post("/_admin/reset")
    for day, meet in JANUARY:
        params = CollectParams(race_date=parse_race_date(day, field="d"), meet=meet, enrich=False)
        job = await run_to_end(runtime, job_queue, JobKind.COLLECTION, params.to_json())
        assert job.status == JobStatus.COMPLETED, job.error


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
async def gql_session(api_url: str, api_key: str) -> AsyncIterator[AsyncClientSession]:
    """A real GraphQL client over HTTP with the all-scopes key (the server validates all)."""
    transport = HTTPXAsyncTransport(
        url=f"{api_url}/graphql", timeout=30, headers=auth_headers(api_key)
    )
    async with Client(transport=transport, execute_timeout=30) as session:
        yield session


@pytest.fixture(scope="session")
async def runtime(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Runtime]:
    runtime = Runtime.create(settings)
    try:
        yield runtime
    finally:
        await runtime.close()


@pytest.fixture(scope="session")
async def job_queue(settings: Settings) -> AsyncIterator[JobQueue]:
    queue = await JobQueue.connect(settings)
    try:
        yield queue
    finally:
        await queue.close()


@pytest.fixture
async def private_queue(settings: Settings) -> AsyncIterator[tuple[Settings, JobQueue]]:
    """A queue no other worker of this run drains, and settings that point at it."""
    own = settings.model_copy(
        update={"arq_queue_name": f"{settings.redis_prefix}queue-{uuid.uuid4().hex[:6]}"}
    )
    queue = await JobQueue.connect(own)
    yield own, queue
    await queue.close()


@pytest.fixture
async def replay(replay_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """Admin access to the replay server; faults, holds and latency are reset afterwards."""
    async with httpx.AsyncClient(base_url=replay_url) as client:
        await client.post("/_admin/reset")
        yield client
        await client.post("/_admin/latency", json={"ms": 0})
        await client.post("/_admin/reset")
