"""Job events: every change of a job row is also published, in order, for subscribers."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

import orjson
from redis.asyncio import Redis

from kra_graphql.jobs.models import Job, JobStatus
from kra_graphql.jobs.states import TERMINAL_STATUSES


class JobEventType(StrEnum):
    SNAPSHOT = "SNAPSHOT"  # the state as read from the database, sent first to a subscriber
    STATUS = "STATUS"
    PROGRESS = "PROGRESS"
    LOG = "LOG"


_TIMES = ("at", "estimated_completion", "created_at", "started_at", "finished_at")

S = TypeVar("S", bound="JobSnapshot")


@dataclass(frozen=True, slots=True)
class JobSnapshot:
    """A job's whole state as readers outside the worker see it, taken from its row in
    one place: events carry it, and the GraphQL `Job` is built from it."""

    job_id: str
    at: datetime  # the row's updated_at: when the job came to this state
    kind: str
    status: str
    progress: int
    total_steps: int | None
    completed_steps: int
    current_step: str | None
    estimated_completion: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    parameters: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    retry_count: int
    requested_by: str | None
    parent_id: str | None

    @classmethod
    def of(cls, job: Job) -> JobSnapshot:
        return _from_row(JobSnapshot, job)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def reached_total(self) -> bool:
        """Every step is done: the progress a bar ends on."""
        return self.total_steps is not None and self.completed_steps >= self.total_steps


def _from_row(cls: type[S], job: Job, **more: Any) -> S:
    """The one mapping of a job row; an event adds its own fields as `more`."""
    return cls(
        job_id=job.id,
        at=job.updated_at,
        kind=job.kind,
        status=job.status,
        progress=job.progress,
        total_steps=job.total_steps,
        completed_steps=job.completed_steps,
        current_step=job.current_step,
        estimated_completion=estimate_completion(job),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        parameters=job.parameters,
        result=job.result,
        error=job.error,
        retry_count=job.retry_count,
        requested_by=job.requested_by,
        parent_id=job.parent_id,
        **more,
    )


@dataclass(frozen=True, slots=True)
class JobEvent(JobSnapshot):
    """A job's state right after one change (so subscribers need no database read);
    `sequence` grows by one per change of that job."""

    sequence: int
    type: JobEventType
    message: str | None

    @classmethod
    def of(
        cls,
        job: Job,
        type_: JobEventType = JobEventType.SNAPSHOT,
        message: str | None = None,
    ) -> JobEvent:
        return _from_row(JobEvent, job, sequence=job.event_sequence, type=type_, message=message)

    def encode(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def decode(cls, data: bytes | str) -> JobEvent:
        fields: dict[str, Any] = orjson.loads(data)
        fields["type"] = JobEventType(fields["type"])
        for name in _TIMES:
            if fields.get(name):
                fields[name] = datetime.fromisoformat(fields[name])
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
