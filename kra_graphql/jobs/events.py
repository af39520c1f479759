"""Job events: every change of a job row is also published, in order, for subscribers."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson
from redis.asyncio import Redis

from kra_graphql.jobs.models import Job, JobStatus


class JobEventType(StrEnum):
    SNAPSHOT = "SNAPSHOT"  # the state as read from the database, sent first to a subscriber
    STATUS = "STATUS"
    PROGRESS = "PROGRESS"
    LOG = "LOG"


@dataclass(frozen=True, slots=True)
class JobEvent:
    """A job's state right after one change; `sequence` grows by one per change of that job."""

    job_id: str
    sequence: int
    type: JobEventType
    kind: str
    status: str
    progress: int
    total_steps: int | None
    completed_steps: int
    current_step: str | None
    message: str | None
    at: datetime
    estimated_completion: datetime | None

    @classmethod
    def of(cls, job: Job, type_: JobEventType, message: str | None = None) -> JobEvent:
        return cls(
            job_id=job.id,
            sequence=job.event_sequence,
            type=type_,
            kind=job.kind,
            status=job.status,
            progress=job.progress,
            total_steps=job.total_steps,
            completed_steps=job.completed_steps,
            current_step=job.current_step,
            message=message,
            at=job.updated_at,
            estimated_completion=estimate_completion(job),
        )

    def encode(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def decode(cls, data: bytes | str) -> JobEvent:
        fields: dict[str, Any] = orjson.loads(data)
        fields["type"] = JobEventType(fields["type"])
        fields["at"] = datetime.fromisoformat(fields["at"])
        if fields.get("estimated_completion"):
            fields["estimated_completion"] = datetime.fromisoformat(fields["estimated_completion"])
        return cls(**fields)


def estimate_completion(job: Job) -> datetime | None:
    """Linear extrapolation from the steps done so far; None until there is a basis."""
    if job.status != JobStatus.PROCESSING or job.started_at is None:
        return None
    if not job.total_steps or not job.completed_steps:
        return None
    elapsed = job.updated_at - job.started_at
    remaining = job.total_steps - job.completed_steps
    return job.updated_at + elapsed * remaining / job.completed_steps


def events_channel(prefix: str) -> str:
    return f"{prefix}job-events"


async def publish(redis: Redis, prefix: str, event: JobEvent) -> None:
    await redis.publish(events_channel(prefix), event.encode())
