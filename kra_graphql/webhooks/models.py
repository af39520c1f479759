"""Webhooks, their deliveries (one per job end and webhook) and every attempt of each."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import uuid4

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from kra_graphql.db import JSONType, UTCDateTime, utcnow
from kra_graphql.jobs.states import JobStatus


class WebhookEvent(StrEnum):
    JOB_COMPLETED = "JOB_COMPLETED"
    JOB_PARTIAL = "JOB_PARTIAL"
    JOB_FAILED = "JOB_FAILED"
    JOB_CANCELLED = "JOB_CANCELLED"

    @classmethod
    def of_status(cls, status: str) -> WebhookEvent | None:
        """The event a job's status is, or None while the job has not ended."""
        return _BY_STATUS.get(status)


_BY_STATUS = {
    JobStatus.COMPLETED.value: WebhookEvent.JOB_COMPLETED,
    JobStatus.PARTIAL.value: WebhookEvent.JOB_PARTIAL,
    JobStatus.FAILED.value: WebhookEvent.JOB_FAILED,
    JobStatus.CANCELLED.value: WebhookEvent.JOB_CANCELLED,
}


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"  # a try is due at next_attempt_at
    DELIVERED = "DELIVERED"  # the receiver answered 2xx
    FAILED = "FAILED"  # every try was spent


def new_webhook_id() -> str:
    return f"webhook_{uuid4().hex}"


def new_delivery_id() -> str:
    return f"delivery_{uuid4().hex}"


class Webhook(SQLModel, table=True):
    __tablename__ = "webhooks"

    id: str = Field(default_factory=new_webhook_id, primary_key=True, max_length=48)
    url: str = Field(sa_type=Text, nullable=False)
    events: list[str] = Field(default_factory=list, sa_type=JSONType, nullable=False)
    # Empty: every kind.
    kinds: list[str] = Field(default_factory=list, sa_type=JSONType, nullable=False)
    # Kept as given: signing needs the secret itself, unlike API keys that are only compared.
    secret: str = Field(max_length=80, nullable=False)
    created_by: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)

    def wants(self, event: WebhookEvent, kind: str) -> bool:
        return event.value in self.events and (not self.kinds or kind in self.kinds)


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index(None, "webhook_id", "created_at", "id"),
        Index(None, "status", "next_attempt_at"),
    )

    id: str = Field(default_factory=new_delivery_id, primary_key=True, max_length=48)
    webhook_id: str = Field(foreign_key="webhooks.id", ondelete="CASCADE", nullable=False)
    # No foreign key: a delivery outlives nothing, but job retention must not wait on it.
    job_id: str = Field(max_length=40, nullable=False)
    event: str = Field(max_length=24, nullable=False)
    # The job as it ended: every try sends the same job, whatever happened to it since.
    job: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType, nullable=False)
    status: str = Field(default=DeliveryStatus.PENDING, max_length=16, nullable=False)
    attempts: int = Field(default=0, nullable=False)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True
    )


class WebhookAttempt(SQLModel, table=True):
    __tablename__ = "webhook_attempts"
    __table_args__ = (Index(None, "delivery_id", "attempt"),)

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(
        foreign_key="webhook_deliveries.id", ondelete="CASCADE", nullable=False
    )
    attempt: int = Field(nullable=False)
    status_code: int | None = None
    error: str | None = Field(default=None, sa_type=Text)
    duration_ms: int = Field(default=0, nullable=False)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
