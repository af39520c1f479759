"""One try of a delivery: claim it, POST it signed, record what happened, plan the next.

A try is claimed by moving the delivery's try count from N-1 to N in one statement:
a try enqueued twice, or re-run by ARQ after a crash, finds the count moved and does
nothing. A claimed try also pushes `next_attempt_at` past its own timeout, so the sweep
takes the delivery over only if the worker died while sending.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import orjson
from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from kra_graphql.db import utcnow
from kra_graphql.logging import get_logger
from kra_graphql.runtime import Runtime
from kra_graphql.webhooks.models import DeliveryStatus, Webhook, WebhookAttempt, WebhookDelivery
from kra_graphql.webhooks.queue import enqueue_attempt
from kra_graphql.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from kra_graphql.webhooks.urls import Target, UnsafeUrl, target_of

log = get_logger(__name__)

# Beyond the request timeout, before the sweep assumes a claimed try died with its worker.
CLAIM_GRACE_S = 60.0
USER_AGENT = "kra-graphql-webhooks"


@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int
    at: datetime

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def deliver(runtime: Runtime, http: httpx.AsyncClient, delivery_id: str, attempt: int) -> str:
    """Make try `attempt` of a delivery; returns the delivery's status after it."""
    claimed = await _claim(runtime, delivery_id, attempt)
    if claimed is None:
        return "SKIPPED"
    delivery, webhook = claimed
    outcome = await _send(runtime, http, webhook, delivery, attempt)
    return await _record(runtime, delivery, attempt, outcome)


async def _claim(
    runtime: Runtime, delivery_id: str, attempt: int
) -> tuple[WebhookDelivery, Webhook] | None:
    lease = timedelta(seconds=runtime.settings.webhook_timeout_s + CLAIM_GRACE_S)
    async with runtime.sessions() as session, session.begin():
        delivery = (
            await session.scalars(
                update(WebhookDelivery)
                .where(
                    col(WebhookDelivery.id) == delivery_id,
                    col(WebhookDelivery.status) == DeliveryStatus.PENDING,
                    col(WebhookDelivery.attempts) == attempt - 1,
                )
                .values(attempts=attempt, next_attempt_at=utcnow() + lease)
                .returning(WebhookDelivery)
            )
        ).one_or_none()
        if delivery is None:
            return None
        webhook = await session.get(Webhook, delivery.webhook_id)
    if webhook is None:  # deleted meanwhile: its deliveries go with it
        return None
    return delivery, webhook


def body_of(delivery: WebhookDelivery, timestamp: int) -> bytes:
    return orjson.dumps(
        {
            "event": delivery.event,
            "job": delivery.job,
            "deliveryId": delivery.id,
            "timestamp": timestamp,
        }
    )


async def _send(
    runtime: Runtime,
    http: httpx.AsyncClient,
    webhook: Webhook,
    delivery: WebhookDelivery,
    attempt: int,
) -> Outcome:
    timestamp = int(time.time())
    body = body_of(delivery, timestamp)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature(webhook.secret, str(timestamp), body),
        TIMESTAMP_HEADER: str(timestamp),
        "X-KRA-Delivery": delivery.id,
        "X-KRA-Event": delivery.event,
    }
    at = utcnow()
    started = time.perf_counter()
    status_code: int | None = None
    error: str | None = None
    try:
        target = await target_of(runtime.settings, webhook.url)
        status_code = await post(http, target, body, headers)
        if not 200 <= status_code < 300:
            error = f"answered HTTP {status_code}"
    except UnsafeUrl as refused:
        error = f"refused: {refused}"
    except httpx.TimeoutException:
        error = f"no answer within {runtime.settings.webhook_timeout_s:g} s"
    except httpx.HTTPError as failed:
        error = f"{type(failed).__name__}: {failed}".rstrip(": ")
    duration_ms = round((time.perf_counter() - started) * 1000)
    log.info(
        "webhook.attempt",
        delivery_id=delivery.id,
        webhook_id=webhook.id,
        attempt=attempt,
        status_code=status_code,
        error=error,
        duration_ms=duration_ms,
    )
    return Outcome(status_code=status_code, error=error, duration_ms=duration_ms, at=at)


async def post(
    http: httpx.AsyncClient, target: Target, body: bytes, headers: dict[str, str]
) -> int:
    """POST without reading the answer's body (a receiver decides nothing with it) and
    without following redirects (they could lead anywhere). When the address was checked,
    connect to that address, naming the host for HTTP and TLS as the URL does."""
    url = httpx.URL(target.url)
    extensions = {}
    if target.address is not None:
        headers = {**headers, "Host": url.netloc.decode("ascii")}
        extensions["sni_hostname"] = url.raw_host.decode("ascii")
        url = url.copy_with(host=str(target.address))
    request = http.build_request("POST", url, content=body, headers=headers, extensions=extensions)
    response = await http.send(request, stream=True, follow_redirects=False)
    await response.aclose()
    return response.status_code


async def _record(
    runtime: Runtime, delivery: WebhookDelivery, attempt: int, outcome: Outcome
) -> str:
    delays = runtime.settings.webhook_retry_delays
    now = utcnow()
    values: dict[str, object]
    delay: float | None = None
    if outcome.delivered:
        values = {"status": DeliveryStatus.DELIVERED, "delivered_at": now, "next_attempt_at": None}
    elif attempt > len(delays):
        values = {"status": DeliveryStatus.FAILED, "next_attempt_at": None}
    else:
        delay = delays[attempt - 1]
        values = {"next_attempt_at": now + timedelta(seconds=delay)}
    try:
        await _write(runtime, delivery.id, attempt, outcome, values)
    except IntegrityError:  # the webhook was deleted while this try was under way
        return "DELETED"
    if delay is not None:
        try:
            await enqueue_attempt(runtime, delivery.id, attempt + 1, defer_by=delay)
        except Exception as error:  # the sweep enqueues it when it is due
            log.warning("webhook.enqueue_failed", delivery_id=delivery.id, error=str(error))
    return str(values.get("status", DeliveryStatus.PENDING))


async def _write(
    runtime: Runtime,
    delivery_id: str,
    attempt: int,
    outcome: Outcome,
    values: dict[str, object],
) -> None:
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            insert(WebhookAttempt).values(
                delivery_id=delivery_id,
                attempt=attempt,
                status_code=outcome.status_code,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
                at=outcome.at,
            )
        )
        await session.execute(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id) == delivery_id, col(WebhookDelivery.attempts) == attempt)
            .values(**values)
        )
