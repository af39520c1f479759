"""Delivery tries as ARQ tasks on the job queue: one ARQ id per try of a delivery, so the
sweep and the writer that recorded it can both enqueue a try and it still runs once."""

from __future__ import annotations

from arq import ArqRedis

from kra_graphql.runtime import Runtime

DELIVER_WEBHOOK = "deliver_webhook"


def arq_id(runtime: Runtime, delivery_id: str, attempt: int) -> str:
    return f"{runtime.settings.redis_prefix}delivery:{delivery_id}:{attempt}"


async def enqueue_attempt(
    runtime: Runtime, delivery_id: str, attempt: int, *, defer_by: float | None = None
) -> None:
    # The process's own Redis connections, spoken to through ARQ's public client.
    pool = ArqRedis(
        runtime.redis.connection_pool, default_queue_name=runtime.settings.arq_queue_name
    )
    await pool.enqueue_job(
        DELIVER_WEBHOOK,
        delivery_id,
        attempt,
        _job_id=arq_id(runtime, delivery_id, attempt),
        _queue_name=runtime.settings.arq_queue_name,
        _defer_by=defer_by or None,
    )
