"""The race-day job kind: what a worker runs for it, and the mutation that submits it."""

from __future__ import annotations

from typing import Any

from kra_graphql.access.keys import Scope
from kra_graphql.jobs.clients import WorkerClients
from kra_graphql.jobs.registry import JobDefinition, JobMutation
from kra_graphql.jobs.states import JobKind
from kra_graphql.progress import JobOutcome, Progress
from kra_graphql.raceday.chain import RaceDayParams, run_race_day
from kra_graphql.runtime import Runtime


async def _race_day(
    runtime: Runtime, progress: Progress, params: RaceDayParams, clients: WorkerClients
) -> JobOutcome:
    return await run_race_day(runtime, clients.kra, progress, params)


JOBS: tuple[JobDefinition[Any], ...] = (
    JobDefinition(
        JobKind.RACE_DAY, RaceDayParams, _race_day, JobMutation("runRaceDay", Scope.ADMIN)
    ),
)
