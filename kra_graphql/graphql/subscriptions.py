"""Subscriptions over the process's job event hub."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import strawberry

from kra_graphql.errors import NotFound
from kra_graphql.graphql.inputs import JobFilter
from kra_graphql.graphql.job_types import JobEvent
from kra_graphql.graphql.types import Info
from kra_graphql.jobs import events
from kra_graphql.jobs.models import Job as JobRow
from kra_graphql.runtime import Runtime


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The job's current state first, then every change in order; completes "
        "after the terminal status (at once for a job that has already finished)."
    )
    async def job_progress(self, info: Info, id: strawberry.ID) -> AsyncGenerator[JobEvent, None]:
        ctx = info.context
        job_id = str(id)
        # Subscribe before reading the snapshot so no change falls in between.
        async with ctx.hub.subscribe(lambda event: event.job_id == job_id) as subscriber:
            viewer = ctx.job_visibility
            row = await _load(ctx.runtime, job_id)
            if row is None or not viewer.sees(row.requested_by):
                raise NotFound(f"no job with id {job_id}", field="id")
            snapshot = events.JobEvent.of(row, events.JobEventType.SNAPSHOT)
            yield JobEvent.from_data(snapshot)
            last = snapshot.sequence
            done = snapshot.is_terminal
            while not done:
                event = await subscriber.next()
                if event is None:
                    # Events may have been missed: the row is the truth.
                    row = await _load(ctx.runtime, job_id)
                    if row is None or row.event_sequence <= last:
                        continue
                    event = events.JobEvent.of(row, events.JobEventType.SNAPSHOT)
                if event.sequence <= last:
                    continue
                last = event.sequence
                ctx.forget_loaders()
                done = event.is_terminal and event.type in {
                    events.JobEventType.STATUS,
                    events.JobEventType.SNAPSHOT,
                }
                yield JobEvent.broadcast(event, viewer)
            # The terminal event is on its way: let the other subscribers' deliveries go
            # before this subscription's completion and clean-up.
            await asyncio.sleep(0)

    @strawberry.subscription(description="Status changes of every job matching the filter.")
    async def job_events(
        self, info: Info, filter: JobFilter | None = None
    ) -> AsyncGenerator[JobEvent, None]:
        query = (filter or JobFilter()).to_query()
        statuses, kinds = set(query.statuses), set(query.kinds)
        viewer = info.context.job_visibility

        def wanted(event: events.JobEvent) -> bool:
            return (
                event.type is events.JobEventType.STATUS
                and viewer.sees(event.requested_by)
                and (not statuses or event.status in statuses)
                and (not kinds or event.kind in kinds)
                and (query.requested_by is None or event.requested_by == query.requested_by)
            )

        async with info.context.hub.subscribe(wanted) as subscriber:
            while True:
                event = await subscriber.next()
                # Missed events cannot be recovered here: a status change has no row.
                if event is not None:
                    info.context.forget_loaders()
                    yield JobEvent.broadcast(event, viewer)


async def _load(runtime: Runtime, job_id: str) -> JobRow | None:
    async with runtime.sessions() as session:
        return await session.get(JobRow, job_id)
