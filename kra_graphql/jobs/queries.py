"""Read-side queries over jobs and their logs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kra_graphql.jobs.models import Job, JobLog
from kra_graphql.jobs.visibility import EVERY_JOB, JobVisibility
from kra_graphql.pagination import Key, Keyset, Page, keyset_page


@dataclass(frozen=True, slots=True)
class JobQuery:
    statuses: Sequence[str] = ()
    kinds: Sequence[str] = ()
    created_from: date | None = None
    created_to: date | None = None
    requested_by: str | None = None
    visibility: JobVisibility = EVERY_JOB


def _filters(query: JobQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.statuses:
        conditions.append(col(Job.status).in_(query.statuses))
    if query.kinds:
        conditions.append(col(Job.kind).in_(query.kinds))
    if query.created_from is not None:
        start = datetime.combine(query.created_from, time(), UTC)
        conditions.append(col(Job.created_at) >= start)
    if query.created_to is not None:
        end = datetime.combine(query.created_to + timedelta(days=1), time(), UTC)
        conditions.append(col(Job.created_at) < end)
    if query.requested_by is not None:
        conditions.append(col(Job.requested_by) == query.requested_by)
    if (visible := query.visibility.condition()) is not None:
        conditions.append(visible)
    return conditions


# Newest first, ties broken by id.
_ORDER = Keyset(
    Key(col(Job.created_at), descending=True, parse=datetime.fromisoformat),
    Key(col(Job.id), descending=True),
)


async def list_jobs(
    session: AsyncSession, query: JobQuery, *, first: int, after: str | None
) -> Page[Job]:
    return await keyset_page(session, Job, _ORDER, _filters(query), first=first, after=after)


async def jobs_by_id(session: AsyncSession, ids: Sequence[str]) -> dict[str, Job]:
    rows = await session.scalars(select(Job).where(col(Job.id).in_(ids)))
    return {job.id: job for job in rows.all()}


async def children_by_parent(session: AsyncSession, ids: Sequence[str]) -> dict[str, list[Job]]:
    rows = await session.scalars(
        select(Job).where(col(Job.parent_id).in_(ids)).order_by(col(Job.created_at))
    )
    grouped: dict[str, list[Job]] = defaultdict(list)
    for job in rows.all():
        if job.parent_id is not None:
            grouped[job.parent_id].append(job)
    return grouped


async def last_logs(
    session: AsyncSession, keys: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], list[JobLog]]:
    """The last N log lines of each job, oldest first; one query for all keys."""
    ids = sorted({job_id for job_id, _ in keys})
    largest = max(last for _, last in keys)
    rank = func.row_number().over(partition_by=col(JobLog.job_id), order_by=col(JobLog.id).desc())
    ranked = select(JobLog, rank.label("rank")).where(col(JobLog.job_id).in_(ids)).subquery()
    rows = await session.execute(
        select(ranked).where(ranked.c.rank <= largest).order_by(ranked.c.job_id, ranked.c.id)
    )
    by_job: dict[str, list[JobLog]] = defaultdict(list)
    for row in rows.mappings():
        by_job[row["job_id"]].append(
            JobLog(
                id=row["id"],
                job_id=row["job_id"],
                level=row["level"],
                message=row["message"],
                created_at=row["created_at"],
            )
        )
    return {(job_id, last): by_job[job_id][-last:] if last else [] for job_id, last in keys}
