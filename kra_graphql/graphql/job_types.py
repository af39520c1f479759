"""Jobs as GraphQL sees them, built from a snapshot: of a row, or the one an event carries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from kra_graphql.errors import BadUserInput
from kra_graphql.graphql.fastpath.executor import SharedAnswers
from kra_graphql.graphql.rowview import RowView
from kra_graphql.graphql.types import Info, Node
from kra_graphql.jobs import models
from kra_graphql.jobs.events import JobEvent as JobEventData
from kra_graphql.jobs.events import JobEventType, JobSnapshot
from kra_graphql.jobs.models import JobKind, JobStatus
from kra_graphql.jobs.visibility import JobVisibility
from kra_graphql.lru import IdentityLRU

MAX_LOG_LINES = 500

# Registered as GraphQL enums once; annotations use the domain enums themselves.
strawberry.enum(models.JobKind)
strawberry.enum(models.JobStatus)
strawberry.enum(JobEventType)


@strawberry.type
class JobLog:
    level: str
    message: str
    created_at: datetime


@strawberry.type(description="A long-running operation; its progress streams via jobProgress.")
class Job(RowView, Node):
    kind: JobKind
    status: JobStatus
    progress: int = strawberry.field(description="0-100; 100 once COMPLETED or PARTIAL.")
    total_steps: int | None
    completed_steps: int
    current_step: str | None
    estimated_completion: datetime | None = strawberry.field(
        description="Extrapolated from the steps done so far while PROCESSING."
    )
    parameters: dict[str, Any] = strawberry.field(graphql_type=JSON)
    result: dict[str, Any] | None = strawberry.field(
        graphql_type=JSON | None,
        description="Set when finished; `failures` lists what failed in a PARTIAL job.",
    )
    error: str | None
    retry_count: int
    requested_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    parent_id: strawberry.Private[str | None]

    @strawberry.field
    async def parent(self, info: Info) -> Job | None:
        if self.parent_id is None:
            return None
        return await visible_job(info, self.parent_id)

    @strawberry.field
    async def children(self, info: Info) -> list[Job]:
        rows = await info.context.loaders.job_children.load(str(self.id))
        visibility = info.context.job_visibility
        return [Job.from_model(row) for row in rows if visibility.sees(row.requested_by)]

    @strawberry.field(description="The last log lines, oldest first.")
    async def logs(self, info: Info, last: int = 20) -> list[JobLog]:
        if not 0 <= last <= MAX_LOG_LINES:
            raise BadUserInput(f"must be between 0 and {MAX_LOG_LINES}", field="last")
        rows = await info.context.loaders.job_logs.load((str(self.id), last))
        return [JobLog(level=r.level, message=r.message, created_at=r.created_at) for r in rows]

    row: strawberry.Private[JobSnapshot]
    OWN = frozenset(("id", "kind", "status", "updated_at"))

    def __init__(self, state: JobSnapshot) -> None:
        self.row = state
        self.id = strawberry.ID(state.job_id)
        self.kind = models.JobKind(state.kind)
        self.status = models.JobStatus(state.status)
        self.updated_at = state.at

    @classmethod
    def from_model(cls, row: models.Job) -> Job:
        return cls(JobSnapshot.of(row))


@strawberry.type(description="One change of a job, with the job's state right after it.")
class JobEvent:
    sequence: int = strawberry.field(description="Grows by one per change of this job.")
    type: JobEventType
    message: str | None
    at: datetime
    job: Job
    shared_answers: strawberry.Private[SharedAnswers | None] = None

    @classmethod
    def from_data(cls, event: JobEventData, shared: SharedAnswers | None = None) -> JobEvent:
        return cls(
            sequence=event.sequence,
            type=event.type,
            message=event.message,
            at=event.at,
            job=Job(event),
            shared_answers=shared,
        )

    @classmethod
    def broadcast(cls, event: JobEventData, viewer: JobVisibility) -> JobEvent:
        """One object for every subscriber of a hub event who sees the same jobs, so that
        the process answers each subscription document once per event and encodes that
        answer once; an answer naming a job's parent or children depends on the viewer."""
        views = _broadcast.get(event)
        if views is None:
            views = {}
            _broadcast.put(event, views)
        view = views.get(viewer)
        if view is None:
            view = views[viewer] = cls.from_data(event, SharedAnswers())
        return view


async def visible_job(info: Info, job_id: str) -> Job | None:
    """The job, or None when it is missing or out of the caller's sight (the same answer)."""
    row = await info.context.loaders.job.load(job_id)
    if row is None or not info.context.job_visibility.sees(row.requested_by):
        return None
    return Job.from_model(row)


# The events most recently fanned out; a subscriber that falls further behind than this
# computes its own answer, which is only slower.
BROADCAST_EVENTS = 256
_broadcast: IdentityLRU[JobEventData, dict[JobVisibility, JobEvent]] = IdentityLRU(BROADCAST_EVENTS)
