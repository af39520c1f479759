"""A parent job's children: created once per key, followed, and summed up on the parent.

A child's id is derived from its parent's id and its key, so a parent that runs again
(after a worker crash, or a retry) finds the children it already made instead of adding
more: the primary key refuses a second row, whatever two attempts do at once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from kra_graphql.db import insert_new, table_of
from kra_graphql.jobs.events import JobEventType
from kra_graphql.jobs.models import Job, JobKind, JobStatus, new_job
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.jobs.reporter import JobCancelled, percent, write_job
from kra_graphql.runtime import Runtime

# Namespace of the children's name-based ids; changing it would orphan running parents.
_CHILDREN = uuid.UUID("6f1d3c52-4b7e-4a43-9e0c-2f8f0b8a5d11")
# How often a parent reads its children while they run. Their own events reach their
# subscribers at once; the parent's aggregate may lag this much behind them.
FOLLOW_INTERVAL_S = 0.5


def child_id(parent_id: str, key: str) -> str:
    return f"job_{uuid.uuid5(_CHILDREN, f'{parent_id}/{key}').hex}"


@dataclass(frozen=True, slots=True)
class ChildSpec:
    key: str  # unique among one parent's children, e.g. "20250503/1"
    parameters: dict[str, Any]


async def spawn(
    runtime: Runtime,
    queue: JobQueue,
    parent: Job,
    kind: JobKind,
    specs: Sequence[ChildSpec],
) -> list[str]:
    """Create the children not created yet and queue them; returns the ids it created.

    Rows are committed before they are queued (a crash in between leaves QUEUED rows that
    the recovery sweep queues). Children that already exist are left as they are. Raises
    JobCancelled when the parent was asked to stop.
    """
    if not specs:
        return []
    table = table_of(Job)
    jobs = [
        new_job(
            kind,
            spec.parameters,
            requested_by=parent.requested_by,
            parent_id=parent.id,
            job_id=child_id(parent.id, spec.key),
        )
        for spec in specs
    ]
    rows = [{column.key: getattr(job, column.key) for column in table.columns} for job in jobs]
    async with runtime.sessions() as session, session.begin():
        # Holding the parent's row makes a cancellation wait for these children, then
        # find and cancel them; one that came first is seen here, and nothing is made.
        cancelled = await session.scalar(
            select(col(Job.cancel_requested)).where(col(Job.id) == parent.id).with_for_update()
        )
        if cancelled:
            raise JobCancelled
        created = await insert_new(session, table, rows, key="id")
    if created:
        await queue.enqueue_new(created)
    return created


async def children_of(runtime: Runtime, parent_id: str) -> list[Job]:
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(Job).where(col(Job.parent_id) == parent_id).order_by(col(Job.id))
        )
        return list(rows.all())


@dataclass(frozen=True, slots=True)
class Aggregate:
    total_steps: int
    completed_steps: int
    children: list[Job]

    @property
    def finished(self) -> bool:
        return all(JobStatus(child.status).is_terminal for child in self.children)

    @property
    def unsuccessful(self) -> list[Job]:
        return [child for child in self.children if child.status != JobStatus.COMPLETED]


def aggregate(children: Sequence[Job], planned_steps: dict[str, int]) -> Aggregate:
    """Steps summed over the children: a finished child counts whole, a child that has not
    started yet counts what it was planned to report."""
    total = done = 0
    for child in children:
        steps = max(child.total_steps or 0, planned_steps.get(child.id, 0), 1)
        total += steps
        if JobStatus(child.status).is_terminal:
            done += steps
        else:
            done += min(child.completed_steps, steps)
    return Aggregate(total_steps=total, completed_steps=done, children=list(children))


class StillRunning(TimeoutError):
    """The parent's attempt is about to reach the job time limit while children still run.

    A TimeoutError is retried with backoff by the job runner: the next attempt finds the
    same children and goes on following them, instead of the attempt being killed."""


def follow_deadline(runtime: Runtime) -> float:
    """When a parent's attempt stops following: before the worker's job time limit."""
    limit = runtime.settings.job_timeout_s
    return time.monotonic() + limit - min(60.0, limit / 5)


async def follow(
    runtime: Runtime,
    queue: JobQueue,
    parent_id: str,
    planned_steps: dict[str, int],
    *,
    deadline: float | None = None,
) -> Aggregate:
    """Mirror the children's summed progress on the parent until every child has ended.

    Its cancellation ends the parent: `cancel_job` cancels the children, and `spawn` makes
    none after that. Past `deadline` (monotonic) it raises StillRunning.
    """
    cancel_key = queue.cancel_key(parent_id)
    shown: tuple[int, int, int] | None = None
    while True:
        if await runtime.redis.exists(cancel_key):
            raise JobCancelled
        state = aggregate(await children_of(runtime, parent_id), planned_steps)
        running = sum(1 for child in state.children if child.status == JobStatus.PROCESSING)
        ended = sum(1 for child in state.children if JobStatus(child.status).is_terminal)
        # A write per whole percent or ended child, not per child step: the parent's events
        # stay a small share of its children's. The last figures are always written, so
        # the parent's bar ends where its children's did.
        now = (percent(state.completed_steps, state.total_steps), ended, state.total_steps)
        if now != shown:
            shown = now
            await write_job(
                runtime,
                parent_id,
                {
                    "total_steps": state.total_steps,
                    "completed_steps": state.completed_steps,
                    "progress": percent(state.completed_steps, state.total_steps),
                    "current_step": (
                        f"{ended} of {len(state.children)} jobs done, {running} running"
                    ),
                },
                JobEventType.PROGRESS,
            )
        if state.finished:
            return state
        if deadline is not None and time.monotonic() > deadline:
            left = len(state.children) - ended
            raise StillRunning(f"{left} child job(s) still running at the job time limit")
        await asyncio.sleep(FOLLOW_INTERVAL_S)
