"""A season backfill: one collection job per race day and meet of a date range.

The race days come from the race plan, read a month and a meet at a time, so a year
costs a few dozen plan calls instead of one probe per calendar day. The backfill job
creates its children, then follows them: its progress is theirs summed up.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from kra_graphql.collection.params import ALL_MEETS, CollectParams, check_day_range, check_meets
from kra_graphql.errors import AppError
from kra_graphql.jobs import children
from kra_graphql.jobs.children import ChildSpec
from kra_graphql.jobs.models import Job, JobKind, JobStatus
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.kra.client import KraClient
from kra_graphql.progress import JobOutcome, Progress
from kra_graphql.races.dates import format_race_date, parse_race_date
from kra_graphql.races.queries import day_status
from kra_graphql.runtime import Runtime

MAX_BACKFILL_DAYS = 400


class BackfillFailed(AppError):
    """Every child job failed: the backfill as a whole did nothing."""


@dataclass(frozen=True, slots=True)
class BackfillParams:
    date_from: date
    date_to: date
    meets: tuple[int, ...] = ALL_MEETS
    enrich: bool = True
    with_results: bool = True
    force: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "dateFrom": format_race_date(self.date_from),
            "dateTo": format_race_date(self.date_to),
            "meets": list(self.meets),
            "enrich": self.enrich,
            "withResults": self.with_results,
            "force": self.force,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BackfillParams:
        return cls(
            date_from=parse_race_date(data["dateFrom"], field="dateFrom"),
            date_to=parse_race_date(data["dateTo"], field="dateTo"),
            meets=tuple(int(meet) for meet in data.get("meets") or ALL_MEETS),
            enrich=bool(data.get("enrich", True)),
            with_results=bool(data.get("withResults", True)),
            force=bool(data.get("force", False)),
        )

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1


def check_backfill(
    date_from: str,
    date_to: str,
    meets: list[int] | None,
    *,
    enrich: bool = True,
    with_results: bool = True,
    force: bool = False,
    prefix: str = "input",
) -> BackfillParams:
    start, end = check_day_range(
        date_from, date_to, most_days=MAX_BACKFILL_DAYS, what="a backfill", prefix=prefix
    )
    chosen = check_meets(meets, field=f"{prefix}.meets")
    return BackfillParams(
        date_from=start,
        date_to=end,
        meets=chosen,
        enrich=enrich,
        with_results=with_results,
        force=force,
    )


def _months(start: date, end: date) -> list[tuple[int, int]]:
    months = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


async def plan_days(kra: KraClient, params: BackfillParams) -> dict[tuple[date, int], list[int]]:
    """(race day, meet) -> race numbers, for the days of the range that have races."""
    found: dict[tuple[date, int], set[int]] = defaultdict(set)
    for year, month in _months(params.date_from, params.date_to):
        for meet in params.meets:
            for entry in await kra.month_plan(year, month, meet):
                if params.date_from <= entry.race_date <= params.date_to:
                    found[(entry.race_date, meet)].add(entry.race_number)
    return {key: sorted(numbers) for key, numbers in sorted(found.items())}


async def is_complete(
    runtime: Runtime, day: date, meet: int, numbers: list[int], params: BackfillParams
) -> bool:
    """Every planned race stored, with its result and details where the backfill wants them."""
    async with runtime.sessions() as session:
        status = await day_status(session, day, meet)
    total = len(numbers)
    return (
        status.total >= total
        and status.collected == status.total
        and (not params.with_results or status.resulted == status.total)
        and (not params.enrich or status.enriched == status.total)
    )


def _key(day: date, meet: int) -> str:
    return f"{format_race_date(day)}/{meet}"


async def backfill_races(
    runtime: Runtime, kra: KraClient, progress: Progress, params: BackfillParams
) -> JobOutcome:
    queue = await JobQueue.connect(runtime.settings)
    try:
        return await _backfill(runtime, kra, queue, progress, params)
    finally:
        await queue.close()


async def _backfill(
    runtime: Runtime,
    kra: KraClient,
    queue: JobQueue,
    progress: Progress,
    params: BackfillParams,
) -> JobOutcome:
    parent_id = progress.job_id
    deadline = children.follow_deadline(runtime)
    async with runtime.sessions() as session:
        parent = await session.get(Job, parent_id)
    assert parent is not None, "the runner hands over a job that exists"

    await progress.step("reading the race plan")
    plan = await plan_days(kra, params)
    races = sum(len(numbers) for numbers in plan.values())
    await progress.log(
        f"{len(plan)} race day(s) and meet(s), {races} race(s) "
        f"from {format_race_date(params.date_from)} to {format_race_date(params.date_to)}"
    )

    await progress.step("creating collection jobs")
    existing = {child.id for child in await children.children_of(runtime, parent_id)}
    specs: list[ChildSpec] = []
    skipped: list[dict[str, Any]] = []
    planned_steps: dict[str, int] = {}
    per_race = 2 if params.enrich else 1
    for (day, meet), numbers in plan.items():
        cid = children.child_id(parent_id, _key(day, meet))
        planned_steps[cid] = len(numbers) * per_race
        if cid in existing:
            continue
        if not params.force and await is_complete(runtime, day, meet, numbers, params):
            skipped.append({"date": format_race_date(day), "meet": meet})
            continue
        child = CollectParams(
            race_date=day,
            meet=meet,
            race_numbers=numbers,
            enrich=params.enrich,
            with_results=params.with_results,
        )
        specs.append(ChildSpec(key=_key(day, meet), parameters=child.to_json()))
    await progress.check_cancelled()
    created = await children.spawn(runtime, queue, parent, JobKind.COLLECTION, specs)
    if skipped:
        await progress.log(f"{len(skipped)} day(s) already collected completely, skipped")
    await progress.log(f"{len(created)} collection job(s) created")

    state = await children.follow(runtime, queue, parent_id, planned_steps, deadline=deadline)
    failures = [
        {
            "jobId": child.id,
            "date": child.parameters.get("date"),
            "meet": child.parameters.get("meet"),
            "status": child.status,
            "error": child.error or _failure_count(child),
        }
        for child in state.unsuccessful
    ]
    ended_empty = {JobStatus.FAILED, JobStatus.CANCELLED}
    if state.children and all(JobStatus(child.status) in ended_empty for child in state.children):
        raise BackfillFailed(f"all {len(failures)} collection job(s) failed")
    result = {
        "jobs": len(state.children),
        "completedJobs": len(state.children) - len(failures),
        "races": sum(len(child.parameters.get("raceNumbers") or []) for child in state.children),
        "skipped": skipped,
    }
    return JobOutcome(result=result, failures=failures)


def _failure_count(child: Job) -> str | None:
    if child.status != JobStatus.PARTIAL or not child.result:
        return None
    return f"{len(child.result.get('failures') or [])} race(s) or detail(s) failed"
