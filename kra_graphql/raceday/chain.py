"""The RACE_DAY job: one race day at every meet that races, as a chain of child jobs.

cards (COLLECTION, no results) -> predictions (PREDICTION with the active prompt) ->
results (RESULTS, again until every race has one) -> scoring (EVALUATION of the stored
predictions). Each step is an ordinary child job a user can watch and retry. Children
are keyed by step, so the job can run again from the start at any time: after a worker
crash, after waiting for the results hour, after a retry. Steps already done are found
and not repeated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from kra_graphql.collection.backfill import BackfillParams, plan_days
from kra_graphql.collection.params import CollectParams, ResultsParams
from kra_graphql.config import Settings
from kra_graphql.errors import AppError
from kra_graphql.jobs import children
from kra_graphql.jobs.children import ChildSpec
from kra_graphql.jobs.models import Job, JobKind, JobStatus
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.kra.client import KraClient
from kra_graphql.prediction.day import DayPredictionParams
from kra_graphql.prediction.models import PredictorKind
from kra_graphql.prediction.prompts import active_prompt
from kra_graphql.prediction.service import EvaluationParams
from kra_graphql.progress import JobOutcome, Progress, ResumeLater
from kra_graphql.races.dates import SEOUL, format_race_date, parse_race_date
from kra_graphql.races.models import CollectionStatus, Race, ResultStatus
from kra_graphql.runtime import Runtime

RESULT_KNOWN = (ResultStatus.RESULTED, ResultStatus.NO_RESULT)


class RaceDayFailed(AppError):
    """A step the rest depends on did not succeed."""


@dataclass(frozen=True, slots=True)
class RaceDayParams:
    race_date: date

    def to_json(self) -> dict[str, Any]:
        return {"date": format_race_date(self.race_date)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RaceDayParams:
        return cls(race_date=parse_race_date(data["date"], field="date"))


def results_time(settings: Settings, day: date) -> datetime:
    return datetime.combine(day, time(settings.race_day_results_hour), tzinfo=SEOUL)


async def race_day_meets(kra: KraClient, day: date) -> dict[int, list[int]]:
    """Meet -> race numbers of the day, from the race plan; empty on a day without races."""
    plan = await plan_days(kra, BackfillParams(date_from=day, date_to=day))
    return {meet: numbers for (_, meet), numbers in plan.items()}


class _Chain:
    """One run of a race day's job: each step creates its children unless they exist,
    then follows every child of the job until they have ended."""

    def __init__(
        self, runtime: Runtime, queue: JobQueue, progress: Progress, parent: Job, day: date
    ) -> None:
        self.runtime = runtime
        self.queue = queue
        self.progress = progress
        self.parent = parent
        self.day = day
        self.deadline = children.follow_deadline(runtime)

    async def step(self, name: str, kind: JobKind, specs: list[ChildSpec]) -> list[Job]:
        """The step's children once they have all ended; the step fails when none completed."""
        await self.progress.step(name)
        await children.spawn(self.runtime, self.queue, self.parent, kind, specs)
        await children.follow(self.runtime, self.queue, self.parent.id, {}, deadline=self.deadline)
        ids = {children.child_id(self.parent.id, spec.key) for spec in specs}
        ended = [c for c in await children.children_of(self.runtime, self.parent.id) if c.id in ids]
        done = [c for c in ended if c.status in (JobStatus.COMPLETED, JobStatus.PARTIAL)]
        if not done:
            raise RaceDayFailed(f"{name}: no {kind.value} job succeeded")
        return done

    async def races_without_result(self) -> int:
        async with self.runtime.sessions() as session:
            missing = await session.scalar(
                select(func.count())
                .select_from(Race)
                .where(col(Race.race_date) == self.day)
                .where(col(Race.collection_status) == CollectionStatus.COLLECTED)
                .where(col(Race.result_status).not_in(RESULT_KNOWN))
            )
        return int(missing or 0)


async def run_race_day(
    runtime: Runtime,
    kra: KraClient,
    progress: Progress,
    params: RaceDayParams,
) -> JobOutcome:
    settings = runtime.settings
    day = params.race_date
    await progress.step("reading the race plan")
    meets = await race_day_meets(kra, day)
    if not meets:
        return JobOutcome(result={"date": format_race_date(day), "meets": []})
    async with runtime.sessions() as session:
        parent = await session.get(Job, progress.job_id)
        predictor = PredictorKind(settings.race_day_predictor)
        prompt = await active_prompt(session, predictor)
    assert parent is not None, "the runner hands over a job that exists"
    if prompt is None:
        raise RaceDayFailed(f"no active {predictor.value} prompt: activate one (activatePrompt)")
    queue = await JobQueue.connect(settings)
    try:
        chain = _Chain(runtime, queue, progress, parent, day)
        text = format_race_date(day)
        cards = [
            ChildSpec(
                f"cards/{meet}",
                CollectParams(
                    race_date=day, meet=meet, race_numbers=numbers, with_results=False
                ).to_json(),
            )
            for meet, numbers in meets.items()
        ]
        await chain.step("collecting the cards", JobKind.COLLECTION, cards)
        predictions = [
            ChildSpec(
                f"predictions/{meet}",
                DayPredictionParams(race_date=day, meet=meet, prompt_id=prompt.id).to_json(),
            )
            for meet in meets
        ]
        runs = await chain.step("predicting", JobKind.PREDICTION, predictions)
        # The prompt the day was predicted with, should another be activated since.
        prompt_id = str(runs[0].parameters["promptId"])

        opens = results_time(settings, day)
        if datetime.now(SEOUL) < opens:
            raise ResumeLater(opens, f"waiting for the results of {text}")
        existing = await children.children_of(runtime, parent.id)
        rounds = sum(1 for child in existing if child.kind == JobKind.RESULTS) // len(meets)
        missing = await chain.races_without_result()
        if missing and rounds < settings.race_day_results_rounds:
            results = [
                ChildSpec(
                    f"results/{meet}/{rounds + 1}",
                    ResultsParams(race_date=day, meet=meet).to_json(),
                )
                for meet in meets
            ]
            await chain.step("collecting the results", JobKind.RESULTS, results)
            missing = await chain.races_without_result()
            if missing and rounds + 1 < settings.race_day_results_rounds:
                later = datetime.now(SEOUL) + timedelta(seconds=settings.race_day_results_retry_s)
                raise ResumeLater(later, f"{missing} race(s) of {text} without a result yet")
        scoring = ChildSpec(
            "scoring",
            EvaluationParams(prompt_id=prompt_id, run_ids=[run.id for run in runs]).to_json(),
        )
        (evaluation,) = await chain.step("scoring", JobKind.EVALUATION, [scoring])
    finally:
        await queue.close()
    result = evaluation.result or {}
    return JobOutcome(
        result={
            "date": text,
            "meets": sorted(meets),
            "promptId": prompt_id,
            "runIds": [run.id for run in runs],
            "evaluationId": result.get("evaluationId"),
            "withoutResult": missing,
        }
    )
