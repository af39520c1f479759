"""Job rows are the truth about every long operation; workers update them."""

from __future__ import annotations

from collections import namedtuple
from datetime import datetime
from typing import Any, cast
from uuid import uuid4

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from kra_graphql.db import JSONType, UTCDateTime, table_of, utcnow

# Re-exported: the rest of the server imports them from here, next to the model.
from kra_graphql.jobs.states import TERMINAL_STATUSES as TERMINAL_STATUSES
from kra_graphql.jobs.states import JobKind as JobKind
from kra_graphql.jobs.states import JobStatus as JobStatus
from kra_graphql.timestamps import Timestamped


def new_job_id() -> str:
    return f"job_{uuid4().hex}"


class Job(Timestamped, table=True):
    __tablename__ = "jobs"
    __table_args__ = (
        Index(None, "status", "kind", "created_at"),
        Index(None, "kind", "created_at"),
    )

    id: str = Field(default_factory=new_job_id, primary_key=True, max_length=40)
    kind: str = Field(max_length=24, nullable=False)
    status: str = Field(default=JobStatus.QUEUED, max_length=16, nullable=False)
    progress: int = Field(default=0, nullable=False)
    total_steps: int | None = None
    completed_steps: int = Field(default=0, nullable=False)
    current_step: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType, nullable=False)
    result: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    error: str | None = Field(default=None, sa_type=Text)
    retry_count: int = Field(default=0, nullable=False)
    cancel_requested: bool = Field(default=False, nullable=False)
    requested_by: str | None = Field(default=None, max_length=100)
    parent_id: str | None = Field(default=None, foreign_key="jobs.id", index=True)
    # Sequence number of the last event published for this job.
    event_sequence: int = Field(default=0, nullable=False)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True
    )


class JobLog(SQLModel, table=True):
    __tablename__ = "job_logs"
    __table_args__ = (Index(None, "job_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(foreign_key="jobs.id", ondelete="CASCADE", nullable=False)
    level: str = Field(default="INFO", max_length=10, nullable=False)
    message: str = Field(sa_type=Text, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


# A new job's row as a named tuple of the table's columns: submitting builds one per
# request, and an ORM instance (validation, instrumentation) cost about as much as the
# rest of job creation together. The row is only ever inserted and read.
_JOB_COLUMNS = [column.key for column in table_of(Job).columns]
_JobRow = namedtuple("_JobRow", _JOB_COLUMNS)  # type: ignore[misc]
_DEFAULTS = {
    name: field.default
    for name, field in Job.model_fields.items()
    if name in _JOB_COLUMNS and field.default_factory is None
}
_FACTORIES = {
    name: field.default_factory
    for name, field in Job.model_fields.items()
    if name in _JOB_COLUMNS and field.default_factory is not None
}


def new_job(
    kind: JobKind,
    parameters: dict[str, Any],
    *,
    requested_by: str | None = None,
    parent_id: str | None = None,
    job_id: str | None = None,
) -> Job:
    """A queued job's row, every column at its model default but those given."""
    values = dict(_DEFAULTS)
    for name, factory in _FACTORIES.items():
        values[name] = factory()  # type: ignore[call-arg]
    values.update(kind=kind, parameters=parameters, requested_by=requested_by, parent_id=parent_id)
    if job_id is not None:
        values["id"] = job_id
    return cast(Job, _JobRow(**values))
