"""Read-side queries over deliveries and their tries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kra_graphql.pagination import Key, Keyset, Page, keyset_page
from kra_graphql.webhooks.models import WebhookAttempt, WebhookDelivery

# Newest first, ties broken by id.
_DELIVERIES = Keyset(
    Key(col(WebhookDelivery.created_at), descending=True, parse=datetime.fromisoformat),
    Key(col(WebhookDelivery.id), descending=True),
)


async def list_deliveries(
    session: AsyncSession, webhook_id: str, *, first: int, after: str | None
) -> Page[WebhookDelivery]:
    return await keyset_page(
        session,
        WebhookDelivery,
        _DELIVERIES,
        [col(WebhookDelivery.webhook_id) == webhook_id],
        first=first,
        after=after,
    )


async def attempts_by_delivery(
    session: AsyncSession, delivery_ids: Sequence[str]
) -> dict[str, list[WebhookAttempt]]:
    """Every try of these deliveries, first try first; one query for all of them."""
    if not delivery_ids:
        return {}
    rows = await session.scalars(
        select(WebhookAttempt)
        .where(col(WebhookAttempt.delivery_id).in_(delivery_ids))
        .order_by(col(WebhookAttempt.delivery_id), col(WebhookAttempt.attempt))
    )
    grouped: dict[str, list[WebhookAttempt]] = defaultdict(list)
    for attempt in rows.all():
        grouped[attempt.delivery_id].append(attempt)
    return grouped
