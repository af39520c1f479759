"""`kra-graphql dev`: SQLite, an embedded Redis, a worker and the API in one process.

Without a KRA_API_KEY the KRA client talks to the replay server over the bundled
sample, and an empty database gets the sample days collected on start.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator

import uvicorn
from sqlalchemy import func, select

from kra_graphql.access.keys import ALL_SCOPES, rotate_key
from kra_graphql.app import create_app
from kra_graphql.collection.params import CollectParams
from kra_graphql.config import Settings
from kra_graphql.db import create_engine, create_sessionmaker
from kra_graphql.embedded_redis import embedded_redis_server, free_port
from kra_graphql.jobs.models import JobKind
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.jobs.service import submit_job
from kra_graphql.kra.replay import create_replay_app
from kra_graphql.kra.sample import sample_fixtures_dir, sample_race_days
from kra_graphql.logging import configure_logging
from kra_graphql.migrate import upgrade
from kra_graphql.preflight import check_database, check_redis
from kra_graphql.races.models import Race
from kra_graphql.runtime import Runtime
from workers.settings import create_worker, stop_worker

Announce = Callable[[str], object]


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # run_dev owns SIGINT/SIGTERM so it can stop the worker and Redis as well.
        yield


@contextlib.contextmanager
def embedded_redis(settings: Settings, announce: Announce) -> Iterator[Settings]:
    """Start a private Valkey server unless REDIS_URL points at one already."""
    if settings.redis_url is not None:
        yield settings
        return
    with embedded_redis_server() as url:
        announce(f"embedded Redis (Valkey) on {url}")
        yield settings.model_copy(update={"redis_url": url})


DEV_KEY_NAME = "dev"


async def _dev_key(settings: Settings) -> str:
    """A fresh key with every scope on each start; the previous one stops working."""
    engine = create_engine(settings)
    try:
        created = await rotate_key(create_sessionmaker(engine), DEV_KEY_NAME, ALL_SCOPES)
    finally:
        await engine.dispose()
    return created.key


def run_dev(settings: Settings, *, host: str, port: int, announce: Announce) -> None:
    configure_logging(settings)
    asyncio.run(check_database(settings))
    upgrade(settings)
    key = asyncio.run(_dev_key(settings))
    announce(
        "development API key (every scope; a new one on each start), sent as "
        f"`Authorization: Bearer <key>` (in GraphiQL: Headers):\n  {key}"
    )
    with embedded_redis(settings, announce) as settings:
        asyncio.run(check_redis(settings))
        asyncio.run(_serve(settings, host=host, port=port, announce=announce))
    announce("stopped")


def _replay_settings(settings: Settings, replay_port: int) -> Settings:
    return settings.model_copy(
        update={
            "kra_api_base_url": f"http://127.0.0.1:{replay_port}",
            # Recorded answers cost nothing: no need to pace them.
            "kra_rate_limit_per_min": 0,
        }
    )


async def _collect_sample(settings: Settings, announce: Announce) -> None:
    runtime = Runtime.create(settings)
    queue = await JobQueue.connect(settings)
    try:
        async with runtime.sessions() as session:
            if await session.scalar(select(func.count()).select_from(Race)):
                return
        for race_date, meet in sample_race_days():
            params = CollectParams(race_date=race_date, meet=meet)
            await submit_job(
                runtime, queue, JobKind.COLLECTION, params.to_json(), requested_by="dev"
            )
        announce("collecting the sample race days from the replay server")
    finally:
        await queue.close()
        await runtime.close()


async def _serve(settings: Settings, *, host: str, port: int, announce: Announce) -> None:
    servers: list[uvicorn.Server] = []
    replaying = settings.kra_api_key is None
    if replaying:
        replay_port = free_port()
        replay = create_replay_app(sample_fixtures_dir())
        servers.append(_Server(uvicorn.Config(replay, port=replay_port, log_level="warning")))
        settings = _replay_settings(settings, replay_port)
        announce(f"KRA replay server over the bundled sample on http://127.0.0.1:{replay_port}")
    server = _Server(
        uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning")
    )
    servers.append(server)
    worker = create_worker(settings, handle_signals=False)
    worker_task = asyncio.ensure_future(worker.async_run())

    def stop() -> None:
        # The worker's jobs first (ARQ re-queues them): a job in flight must stop before
        # the replay server it reads from goes away, or its calls fail against a closed port.
        worker.handle_sig(signal.SIGTERM)
        for each in servers:
            each.force_exit = each.should_exit  # a second Ctrl-C skips the grace period
            each.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)

    async def when_started() -> None:
        # uvicorn exposes only a flag for "started", no event to wait on.
        while not all(each.started for each in servers) and not server.should_exit:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if server.started:
            if replaying:
                await _collect_sample(settings, announce)
            announce(f"GraphiQL on http://{host}:{port}/graphql  (Ctrl-C stops everything)")

    started = asyncio.create_task(when_started())
    try:
        await asyncio.gather(*(each.serve() for each in servers))
    finally:
        started.cancel()
        worker_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker_task
        await stop_worker(worker)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
