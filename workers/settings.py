"""Build the ARQ worker from our settings; the same code serves `worker` and `dev`."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from arq import Worker
from arq.connections import RedisSettings

from kra_graphql.config import Settings
from kra_graphql.logging import get_logger
from kra_graphql.runtime import Runtime, require_redis_url
from workers import tasks

log = get_logger(__name__)


async def _startup(ctx: dict[str, Any]) -> None:
    ctx["runtime"] = Runtime.create(ctx["settings"])
    log.info("worker.started", queue=ctx["settings"].arq_queue_name)


async def _shutdown(ctx: dict[str, Any]) -> None:
    runtime: Runtime | None = ctx.get("runtime")
    if runtime is not None:
        await runtime.close()
    log.info("worker.stopped")


def create_worker(
    settings: Settings, *, burst: bool = False, handle_signals: bool = True
) -> Worker:
    """Construct inside a running event loop: ARQ binds the loop at construction."""
    return Worker(
        functions=tasks.FUNCTIONS,
        redis_settings=RedisSettings.from_dsn(require_redis_url(settings)),
        queue_name=settings.arq_queue_name,
        on_startup=_startup,
        on_shutdown=_shutdown,
        ctx={"settings": settings},
        burst=burst,
        handle_signals=handle_signals,
        health_check_interval=settings.worker_heartbeat_s,
        allow_abort_jobs=True,
    )


async def stop_worker(worker: Worker) -> None:
    """Stop the loop and wait for cancelled jobs; ARQ re-queues them for the next worker.

    ARQ's own close() gathers the cancelled job tasks without return_exceptions and
    so never reaches its shutdown hook; settle them first.
    """
    worker.handle_sig(signal.SIGTERM)
    running = list(worker.tasks.values())
    await asyncio.gather(*running, return_exceptions=True)
    worker.tasks.clear()
    await worker.close()


async def run_worker(settings: Settings) -> None:
    """`kra-graphql worker`: run until SIGINT or SIGTERM, then stop cleanly."""
    worker = create_worker(settings, handle_signals=False)
    loop = asyncio.get_running_loop()
    main = asyncio.ensure_future(worker.async_run())
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main.cancel)
    try:
        await main
    except asyncio.CancelledError:
        pass
    finally:
        await stop_worker(worker)
