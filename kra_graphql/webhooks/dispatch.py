"""A job's end becomes deliveries: recorded with the job's terminal write, sent after it.

Recording in the same transaction as the write that ends the job means a crash can
lose neither; sending happens only after the commit, so a receiver never hears of an
end that did not happen, and a slow receiver never holds the job up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kra_graphql.db import utcnow
from kra_graphql.jobs.models import Job
from kra_graphql.logging import get_logger
from kra_graphql.runtime import Runtime
from kra_graphql.webhooks.models import (
    DeliveryStatus,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
    new_delivery_id,
)
from kra_graphql.webhooks.queue import enqueue_attempt

log = get_logger(__name__)

# How many due deliveries one sweep enqueues; the next sweep takes the rest.
SWEEP_BATCH = 500


def job_payload(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "result": job.result,
        "error": job.error,
        "requestedBy": job.requested_by,
        "finishedAt": _iso(job.finished_at),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


async def record_deliveries(session: AsyncSession, job: Job) -> list[str]:
    """Inside the transaction that ended `job`: one delivery per webhook that wants it."""
    event = WebhookEvent.of_status(job.status)
    if event is None:
        return []
    # Shared locks: a webhook deleted meanwhile waits for this commit instead of making
    # the insert below (and with it the job's own write) fail on its foreign key.
    hooks = await session.scalars(select(Webhook).with_for_update(read=True, key_share=True))
    wanting = [hook for hook in hooks.all() if hook.wants(event, job.kind)]
    if not wanting:
        return []
    now = utcnow()
    payload = job_payload(job)
    rows: list[dict[str, Any]] = [
        {
            "id": new_delivery_id(),
            "webhook_id": hook.id,
            "job_id": job.id,
            "event": event.value,
            "job": payload,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for hook in wanting
    ]
    await session.execute(insert(WebhookDelivery), rows)
    return [row["id"] for row in rows]


async def send_soon(runtime: Runtime, delivery_ids: Sequence[str]) -> None:
    """After the commit. Never raises: the sweep sends what could not be enqueued here."""
    for delivery_id in delivery_ids:
        try:
            await enqueue_attempt(runtime, delivery_id, 1)
        except Exception as error:
            log.warning("webhook.enqueue_failed", delivery_id=delivery_id, error=str(error))


async def send_due(runtime: Runtime) -> list[str]:
    """Enqueue the next try of every delivery that is due: those whose enqueue failed,
    whose worker died mid-try, or whose retry the queue lost."""
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(col(WebhookDelivery.id), col(WebhookDelivery.attempts))
            .where(
                col(WebhookDelivery.status) == DeliveryStatus.PENDING,
                col(WebhookDelivery.next_attempt_at) <= utcnow(),
            )
            .order_by(col(WebhookDelivery.next_attempt_at))
            .limit(SWEEP_BATCH)
        )
        due = list(rows.tuples())
    for delivery_id, attempts in due:
        await enqueue_attempt(runtime, delivery_id, attempts + 1)
    return [delivery_id for delivery_id, _ in due]
