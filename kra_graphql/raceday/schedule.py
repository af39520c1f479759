"""When a race day's job starts: from the cards hour of a day the race plan lists races.

The worker calls this every hour and once when it starts, so a day whose cards hour
passed while no worker ran is caught up at the next start. The job's id is the date's,
so however often this runs, a day gets one job.
"""

from __future__ import annotations

from datetime import date, datetime

from kra_graphql.access.keys import SCHEDULE
from kra_graphql.jobs.models import Job, JobKind, new_job
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.jobs.service import create_once
from kra_graphql.kra.client import KraClient
from kra_graphql.raceday.chain import RaceDayParams, race_day_meets
from kra_graphql.races.dates import SEOUL, format_race_date
from kra_graphql.runtime import Runtime


def race_day_job_id(day: date) -> str:
    return f"job_raceday_{format_race_date(day)}"


async def schedule_race_day(
    runtime: Runtime, queue: JobQueue, kra: KraClient, now: datetime
) -> str | None:
    """The id of the race-day job this call created, if it created one."""
    local = now.astimezone(SEOUL)
    if local.hour < runtime.settings.race_day_cards_hour:
        return None
    day = local.date()
    job_id = race_day_job_id(day)
    async with runtime.sessions() as session:
        if await session.get(Job, job_id) is not None:
            return None
    if not await race_day_meets(kra, day):
        return None
    params = RaceDayParams(day).to_json()
    job = new_job(JobKind.RACE_DAY, params, requested_by=SCHEDULE, job_id=job_id)
    created = await create_once(runtime, queue, [job])
    return job_id if created else None
