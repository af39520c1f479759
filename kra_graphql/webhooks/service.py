"""Create, list and delete webhooks; prune old deliveries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlmodel import col

from kra_graphql.errors import BadUserInput, NotFound
from kra_graphql.runtime import Runtime
from kra_graphql.webhooks.models import Webhook, WebhookDelivery, WebhookEvent
from kra_graphql.webhooks.signing import new_secret
from kra_graphql.webhooks.urls import check_webhook_url

# Every job's end is matched against every webhook: keep that list short.
MAX_WEBHOOKS = 100


@dataclass(frozen=True, slots=True)
class CreatedWebhook:
    webhook: Webhook
    secret: str


async def create_webhook(
    runtime: Runtime,
    *,
    url: str,
    events: Sequence[WebhookEvent],
    kinds: Sequence[str] = (),
    created_by: str | None = None,
) -> CreatedWebhook:
    """Field names in errors are the input's (`url`, `events`)."""
    if not events:
        raise BadUserInput("name at least one event", field="events")
    stored_url = await check_webhook_url(runtime.settings, url, field="url")
    secret = new_secret()
    webhook = Webhook(
        url=stored_url,
        events=sorted({event.value for event in events}),
        kinds=sorted(set(kinds)),
        secret=secret,
        created_by=created_by,
    )
    async with runtime.sessions() as session, session.begin():
        count = await session.scalar(select(func.count()).select_from(Webhook))
        if (count or 0) >= MAX_WEBHOOKS:
            raise BadUserInput(f"at most {MAX_WEBHOOKS} webhooks; delete one first", field="url")
        session.add(webhook)
    return CreatedWebhook(webhook=webhook, secret=secret)


async def list_webhooks(runtime: Runtime) -> list[Webhook]:
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(Webhook).order_by(col(Webhook.created_at), col(Webhook.id))
        )
        return list(rows.all())


async def get_webhook(runtime: Runtime, webhook_id: str, *, field: str = "id") -> Webhook:
    async with runtime.sessions() as session:
        webhook = await session.get(Webhook, webhook_id)
    if webhook is None:
        raise NotFound(f"no webhook with id {webhook_id}", field=field)
    return webhook


async def delete_webhook(runtime: Runtime, webhook_id: str) -> Webhook:
    """Its deliveries go with it, pending ones too."""
    async with runtime.sessions() as session, session.begin():
        webhook = await session.get(Webhook, webhook_id)
        if webhook is None:
            raise NotFound(f"no webhook with id {webhook_id}", field="id")
        await session.delete(webhook)
    return webhook


async def prune_deliveries(runtime: Runtime, before: datetime) -> int:
    """Delete deliveries (with their tries) created before `before`; how many went."""
    async with runtime.sessions() as session, session.begin():
        result = await session.execute(
            delete(WebhookDelivery).where(col(WebhookDelivery.created_at) < before)
        )
    return int(getattr(result, "rowcount", 0) or 0)
