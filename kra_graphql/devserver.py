"""`kra-graphql dev`: SQLite, an embedded Redis, a worker and the API in one process."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator

import uvicorn

from kra_graphql.app import create_app
from kra_graphql.config import Settings
from kra_graphql.embedded_redis import embedded_redis_server
from kra_graphql.logging import configure_logging
from kra_graphql.migrate import upgrade
from kra_graphql.preflight import check_database, check_redis
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


def run_dev(settings: Settings, *, host: str, port: int, announce: Announce) -> None:
    configure_logging(settings)
    asyncio.run(check_database(settings))
    upgrade(settings)
    with embedded_redis(settings, announce) as settings:
        asyncio.run(check_redis(settings))
        asyncio.run(_serve(settings, host=host, port=port, announce=announce))
    announce("stopped")


async def _serve(settings: Settings, *, host: str, port: int, announce: Announce) -> None:
    server = _Server(
        uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning")
    )
    worker = create_worker(settings, handle_signals=False)
    worker_task = asyncio.ensure_future(worker.async_run())

    def stop() -> None:
        server.force_exit = server.should_exit  # a second Ctrl-C skips the grace period
        server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)

    async def announce_when_started() -> None:
        # uvicorn exposes only a flag for "started", no event to wait on.
        while not server.started and not server.should_exit:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if server.started:
            announce(f"GraphiQL on http://{host}:{port}/graphql  (Ctrl-C stops everything)")

    announcer = asyncio.create_task(announce_when_started())
    try:
        await server.serve()
    finally:
        announcer.cancel()
        worker_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker_task
        await stop_worker(worker)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
