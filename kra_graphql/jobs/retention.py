"""Job retention: finished jobs older than JOB_RETENTION_DAYS go, with their logs (and the
folders of the exports they made).

Jobs form trees (`parent_id`): a tree goes only once every job in it is finished and
old, all of it at once, so a child never outlives its parent nor loses it while the
tree is still being worked on or looked at. What other tables keep about a job
(an evaluation's `job_id`, ...) stays, with its reference to the job cleared: results
are data, jobs are only how they were made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Column, Select, and_, delete, func, literal, not_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import SQLModel, col

from kra_graphql.db import utcnow
from kra_graphql.export.cleanup import sweep_exports
from kra_graphql.jobs.models import TERMINAL_STATUSES, Job, JobLog
from kra_graphql.logging import get_logger
from kra_graphql.metrics import observe_retention
from kra_graphql.runtime import Runtime
from kra_graphql.webhooks.service import prune_deliveries

log = get_logger(__name__)

# Jobs deleted per transaction: each batch is short, and a crash keeps what was done.
BATCH = 500


@dataclass(frozen=True, slots=True)
class Pruned:
    jobs: int = 0
    logs: int = 0
    deliveries: int = 0
    exports: int = 0


async def apply_retention(runtime: Runtime) -> Pruned:
    """The daily task: jobs and webhook deliveries past JOB_RETENTION_DAYS, and the
    export folders of jobs that are gone."""
    before = utcnow() - timedelta(days=runtime.settings.job_retention_days)
    jobs = await prune_jobs(runtime, before)
    deliveries = await prune_deliveries(runtime, before)
    pruned = Pruned(jobs.jobs, jobs.logs, deliveries, await sweep_exports(runtime))
    observe_retention(jobs=pruned.jobs, job_logs=pruned.logs, webhook_deliveries=pruned.deliveries)
    log.info(
        "retention.applied",
        before=before.isoformat(),
        jobs=pruned.jobs,
        job_logs=pruned.logs,
        webhook_deliveries=pruned.deliveries,
        export_folders=pruned.exports,
    )
    return pruned


@cache
def _references() -> tuple[Column[str], ...]:
    """Columns of other tables that name a job and must outlive it (set to null).
    Found from the models, so a table added later that points at jobs is covered too;
    `job_logs` (ON DELETE CASCADE) goes with its job instead."""
    import kra_graphql.models  # noqa: F401 - every table in the metadata

    found = []
    for table in SQLModel.metadata.tables.values():
        if table.name == "jobs":
            continue
        for key in table.foreign_keys:
            if key.column.table.name != "jobs" or (key.ondelete or "").upper() == "CASCADE":
                continue
            column = key.parent
            if not column.nullable:
                raise RuntimeError(f"{table.name}.{column.name} would block job retention")
            found.append(column)
    return tuple(found)


def _expired_tree_members(before: datetime) -> Select[Any]:
    """Every job of a tree whose jobs are all finished before `before`, deepest first."""
    child = aliased(Job)
    tree = (
        select(col(Job.id).label("id"), col(Job.id).label("root"), literal(0).label("depth"))
        .where(col(Job.parent_id).is_(None))
        .cte("tree", recursive=True)
    )
    tree = tree.union_all(
        select(col(child.id), tree.c.root, tree.c.depth + 1).where(
            col(child.parent_id) == tree.c.id
        )
    )
    member = aliased(Job)
    expired = and_(
        col(member.status).in_(TERMINAL_STATUSES),
        func.coalesce(col(member.finished_at), col(member.updated_at)) < before,
    )
    live_roots = select(tree.c.root).join(member, col(member.id) == tree.c.id).where(not_(expired))
    return (
        select(tree.c.id)
        .where(tree.c.root.not_in(live_roots))
        .order_by(tree.c.depth.desc(), tree.c.id)
    )


async def prune_jobs(runtime: Runtime, before: datetime) -> Pruned:
    async with runtime.sessions() as session:
        ids: list[str] = list((await session.scalars(_expired_tree_members(before))).all())
    jobs = logs = 0
    # Deepest first: a batch never deletes a parent whose children a later batch holds.
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        async with runtime.sessions() as session, session.begin():
            logs += await _delete(session, batch)
        jobs += len(batch)
    return Pruned(jobs=jobs, logs=logs)


async def _delete(session: AsyncSession, ids: Sequence[str]) -> int:
    """Delete these jobs; returns how many log lines went with them."""
    for column in _references():
        await session.execute(
            update(column.table).where(column.in_(ids)).values({column.name: None})
        )
    logs = await session.scalar(
        select(func.count()).select_from(JobLog).where(col(JobLog.job_id).in_(ids))
    )
    await session.execute(delete(JobLog).where(col(JobLog.job_id).in_(ids)))
    await session.execute(delete(Job).where(col(Job.id).in_(ids)))
    return int(logs or 0)
