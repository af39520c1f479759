"""Build the ARQ worker from our settings; the same code serves `worker` and `dev`."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta, timezone
from typing import Any

import httpx
from arq import Worker, cron, func
from arq.connections import RedisSettings
from redis.asyncio import Redis

from kra_graphql.config import Settings
from kra_graphql.health import worker_heartbeat_key
from kra_graphql.jobs.clients import WorkerClients
from kra_graphql.jobs.kinds import REGISTRY
from kra_graphql.jobs.queue import RUN_JOB, JobQueue
from kra_graphql.jobs.registry import JobRegistry
from kra_graphql.kra.factory import create_http_client
from kra_graphql.logging import get_logger
from kra_graphql.metrics import observe_kra_call, serve_worker_metrics
from kra_graphql.runtime import Runtime, require_redis_url
from kra_graphql.webhooks.queue import DELIVER_WEBHOOK
from workers import tasks

log = get_logger(__name__)

# ARQ wants a fixed-offset timezone; Korea keeps UTC+9 all year.
KST = timezone(timedelta(hours=9), "KST")
# Attempts ARQ itself allows beyond our retry budget, for re-deliveries after a crash.
CRASH_REDELIVERIES = 3


async def _startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    runtime = Runtime.create(settings)
    http = create_http_client(settings)
    ctx["runtime"] = runtime
    ctx["http"] = http
    # Apart from the KRA client: other timeouts, and no base URL or KRA headers.
    ctx["webhook_http"] = httpx.AsyncClient(timeout=settings.webhook_timeout_s)
    ctx["queue"] = JobQueue(
        ctx["redis"], prefix=settings.redis_prefix, queue_name=settings.arq_queue_name
    )
    registry: JobRegistry = ctx["registry"]
    clients = WorkerClients.create(settings, runtime.redis, http, on_call=observe_kra_call)
    ctx["clients"] = clients
    ctx["handlers"] = registry.handlers(clients)
    if settings.worker_metrics_port is not None and settings.metrics_enabled:
        serve_worker_metrics(settings.worker_metrics_port)
    log.info("worker.started", queue=settings.arq_queue_name)


async def _shutdown(ctx: dict[str, Any]) -> None:
    if "http" in ctx:
        await ctx["http"].aclose()
    if "webhook_http" in ctx:
        await ctx["webhook_http"].aclose()
    runtime: Runtime | None = ctx.get("runtime")
    if runtime is not None:
        await runtime.close()
    log.info("worker.stopped")


def _cron_jobs(settings: Settings) -> list[Any]:
    # Cron job ids are global in Redis: name them per deployment (prefix) so two
    # deployments sharing a Redis do not swallow each other's runs.
    jobs = [
        cron(
            tasks.recover,
            name=f"{settings.redis_prefix}recover",
            second=set(range(0, 60, settings.job_recovery_interval_s)),
            run_at_startup=True,
            unique=True,
        ),
        cron(
            tasks.send_due_webhooks,
            name=f"{settings.redis_prefix}webhook-sweep",
            second=set(range(0, 60, settings.job_recovery_interval_s)),
            run_at_startup=True,
            unique=True,
        ),
        cron(
            tasks.apply_job_retention,
            name=f"{settings.redis_prefix}job-retention",
            hour={4},
            minute={30},
            second={0},
            unique=True,
        ),
    ]
    if settings.race_day_enabled:
        # Every hour, and at start: a race day whose cards hour passed unseen is caught up.
        jobs.append(
            cron(
                tasks.start_race_day,
                name=f"{settings.redis_prefix}race-day",
                minute={0},
                second={0},
                run_at_startup=True,
                unique=True,
            )
        )
    if settings.daily_collection_enabled:
        jobs.append(
            cron(
                tasks.collect_yesterday,
                name=f"{settings.redis_prefix}daily-collection",
                hour={settings.daily_collection_hour},
                minute={0},
                second={0},
                unique=True,
            )
        )
    return jobs


def create_worker(
    settings: Settings,
    *,
    burst: bool = False,
    handle_signals: bool = True,
    registry: JobRegistry = REGISTRY,
) -> Worker:
    """Construct inside a running event loop: ARQ binds the loop at construction.
    `registry` decides which job kinds this worker runs."""
    max_tries = settings.job_max_retries + 1 + CRASH_REDELIVERIES
    return Worker(
        functions=[
            func(tasks.ping, name="ping"),
            func(tasks.run_job, name=RUN_JOB, max_tries=max_tries),
            func(
                tasks.deliver_webhook, name=DELIVER_WEBHOOK, timeout=settings.webhook_timeout_s + 30
            ),
        ],
        cron_jobs=_cron_jobs(settings),
        redis_settings=RedisSettings.from_dsn(require_redis_url(settings)),
        queue_name=settings.arq_queue_name,
        on_startup=_startup,
        on_shutdown=_shutdown,
        ctx={"settings": settings, "registry": registry},
        burst=burst,
        handle_signals=handle_signals,
        max_jobs=settings.worker_max_jobs,
        job_timeout=settings.job_timeout_s,
        keep_result=3600,
        health_check_interval=settings.worker_heartbeat_s,
        allow_abort_jobs=True,
        timezone=KST,
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


async def worker_alive(settings: Settings) -> bool:
    """Is some worker on this queue refreshing its heartbeat? (`kra-graphql worker --check`)"""
    redis = Redis.from_url(require_redis_url(settings), socket_timeout=5)
    try:
        return bool(await redis.exists(worker_heartbeat_key(settings.arq_queue_name)))
    except Exception:
        return False
    finally:
        await redis.aclose()


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
