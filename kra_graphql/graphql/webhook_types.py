"""Webhooks over GraphQL, for admin keys: translation only (kra_graphql/webhooks/ decides)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from kra_graphql.errors import AppError
from kra_graphql.graphql.pagination import Connection, to_connection
from kra_graphql.graphql.types import Info
from kra_graphql.jobs.states import JobKind
from kra_graphql.pagination import check_page_size
from kra_graphql.webhooks import models, queries, service
from kra_graphql.webhooks.models import DeliveryStatus, WebhookEvent

strawberry.enum(WebhookEvent, description="A job's end, as a webhook hears of it.")
strawberry.enum(DeliveryStatus, name="WebhookDeliveryStatus")


@strawberry.type(description="A URL told of job ends; its signing secret is never shown again.")
class Webhook:
    id: strawberry.ID
    url: str
    events: list[WebhookEvent]
    kinds: list[JobKind] = strawberry.field(description="Empty: every kind.")
    created_by: str | None
    created_at: datetime

    @classmethod
    def from_model(cls, row: models.Webhook) -> Webhook:
        return cls(
            id=strawberry.ID(row.id),
            url=row.url,
            events=[WebhookEvent(event) for event in row.events],
            kinds=[JobKind(kind) for kind in row.kinds if kind in _KINDS],
            created_by=row.created_by,
            created_at=row.created_at,
        )


_KINDS = frozenset(kind.value for kind in JobKind)


@strawberry.type
class CreatedWebhook:
    webhook: Webhook
    secret: str = strawberry.field(
        description="Shown this once: the key of the X-KRA-Signature HMAC."
    )


@strawberry.input
class CreateWebhookInput:
    url: str
    events: list[WebhookEvent]
    kinds: list[JobKind] | None = strawberry.field(
        default=None, description="Only jobs of these kinds; empty or omitted: every kind."
    )


@strawberry.type(description="One try of a delivery.")
class WebhookAttempt:
    id: strawberry.ID
    attempt: int = strawberry.field(description="1 for the first try.")
    status_code: int | None = strawberry.field(description="The receiver's HTTP status.")
    error: str | None = strawberry.field(description="Why the try failed; null once delivered.")
    duration_ms: int
    at: datetime

    @classmethod
    def from_model(cls, row: models.WebhookAttempt) -> WebhookAttempt:
        return cls(
            id=strawberry.ID(f"webhookattempt_{row.id}"),
            attempt=row.attempt,
            status_code=row.status_code,
            error=row.error,
            duration_ms=row.duration_ms,
            at=row.at,
        )


@strawberry.type(description="A job's end told to one webhook, with every try so far.")
class WebhookDelivery:
    id: strawberry.ID = strawberry.field(description="Also the body's deliveryId.")
    event: WebhookEvent
    job_id: strawberry.ID
    status: DeliveryStatus
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    attempts: list[WebhookAttempt]

    @classmethod
    def of(cls, row: models.WebhookDelivery, attempts: list[WebhookAttempt]) -> WebhookDelivery:
        pending = row.status == DeliveryStatus.PENDING
        return cls(
            id=strawberry.ID(row.id),
            event=WebhookEvent(row.event),
            job_id=strawberry.ID(row.job_id),
            status=DeliveryStatus(row.status),
            next_attempt_at=row.next_attempt_at if pending else None,
            delivered_at=row.delivered_at,
            created_at=row.created_at,
            attempts=attempts,
        )


async def webhooks(info: Info) -> list[Webhook]:
    return [Webhook.from_model(row) for row in await service.list_webhooks(info.context.runtime)]


async def create_webhook(info: Info, input: CreateWebhookInput) -> CreatedWebhook:
    try:
        created = await service.create_webhook(
            info.context.runtime,
            url=input.url,
            events=input.events,
            kinds=[kind.value for kind in input.kinds or ()],
            created_by=info.context.submitter,
        )
    except AppError as error:
        if error.field is not None:
            error.field = f"input.{error.field}"
        raise
    return CreatedWebhook(webhook=Webhook.from_model(created.webhook), secret=created.secret)


async def delete_webhook(info: Info, id: strawberry.ID) -> Webhook:
    return Webhook.from_model(await service.delete_webhook(info.context.runtime, str(id)))


async def webhook_deliveries(
    info: Info, webhook_id: strawberry.ID, first: int = 20, after: str | None = None
) -> Connection[WebhookDelivery]:
    size = check_page_size(first)
    await service.get_webhook(info.context.runtime, str(webhook_id), field="webhookId")
    page = await info.context.read(
        lambda session: queries.list_deliveries(session, str(webhook_id), first=size, after=after)
    )
    ids = [row.id for row in page.items]
    tries = await info.context.read(lambda session: queries.attempts_by_delivery(session, ids))
    return to_connection(
        page,
        lambda row: WebhookDelivery.of(
            row, [WebhookAttempt.from_model(attempt) for attempt in tries.get(row.id, [])]
        ),
    )
