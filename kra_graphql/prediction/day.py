"""Predict every race of one day at one meet as one run: the PREDICTION job.

Each run is the job that made it: its id is the run id on every prediction, so predicting
a day again adds a run beside the earlier ones, while another attempt of the same job
(a retry, a worker that died) updates that run's rows instead of adding to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from kra_graphql.db import table_of, upsert
from kra_graphql.errors import BadUserInput
from kra_graphql.prediction.models import Prediction
from kra_graphql.prediction.results import load_results
from kra_graphql.prediction.service import (
    PREDICTION_CONFLICT,
    Predictors,
    answer_race,
    get_prompt,
    prediction_row,
)
from kra_graphql.progress import JobOutcome, Progress
from kra_graphql.races.dates import format_race_date, parse_race_date
from kra_graphql.races.models import CollectionStatus, Race
from kra_graphql.runtime import Runtime


@dataclass(frozen=True, slots=True)
class DayPredictionParams:
    race_date: date
    meet: int
    prompt_id: str
    confidence_threshold: int = 0
    use_final_odds: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "date": format_race_date(self.race_date),
            "meet": self.meet,
            "promptId": self.prompt_id,
            "confidenceThreshold": self.confidence_threshold,
            "useFinalOdds": self.use_final_odds,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DayPredictionParams:
        return cls(
            race_date=parse_race_date(data["date"], field="date"),
            meet=int(data["meet"]),
            prompt_id=data["promptId"],
            confidence_threshold=int(data.get("confidenceThreshold", 0)),
            use_final_odds=bool(data.get("useFinalOdds", False)),
        )


async def day_race_ids(runtime: Runtime, race_date: date, meet: int) -> list[str]:
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(col(Race.id))
            .where(col(Race.race_date) == race_date, col(Race.meet) == meet)
            # A race whose card failed to collect has nothing to predict from.
            .where(col(Race.collection_status) == CollectionStatus.COLLECTED)
            .order_by(col(Race.race_number))
        )
        return list(rows.all())


async def predict_day(
    runtime: Runtime, predictors: Predictors, progress: Progress, params: DayPredictionParams
) -> JobOutcome:
    """One step per race; a race the predictor cannot answer (too few starters, no odds
    for a MARKET prompt) is listed as a failure and the others go on."""
    prompt = await get_prompt(runtime, params.prompt_id)
    predictor = predictors.for_prompt(prompt)
    race_ids = await day_race_ids(runtime, params.race_date, params.meet)
    if not race_ids:
        # Failing says more than an empty success: the day was never collected, or is
        # not a race day at this meet.
        raise BadUserInput(
            f"no races stored for {format_race_date(params.race_date)} at meet {params.meet}: "
            "collect the day first",
            field="date",
        )
    run_id = progress.job_id
    await progress.set_total(len(race_ids), step="predicting")
    failures: list[dict[str, Any]] = []
    predicted: list[str] = []
    for race_id in race_ids:
        await progress.step(race_id)
        try:
            reply, elapsed = await answer_race(
                runtime, predictor, prompt, race_id, params.use_final_odds
            )
        except BadUserInput as error:
            failures.append({"raceId": race_id, "error": error.message})
            await progress.advance()
            continue
        # Scoring only, never the predictor's input: known when a past day is predicted.
        async with runtime.sessions() as session:
            result = (await load_results(session, [race_id])).get(race_id)
        top3 = result.top3 if result else None
        row = prediction_row(
            race_id, prompt, reply, run_key=run_id, evaluation_id=None,
            deferred=reply.confidence < params.confidence_threshold,
            use_final_odds=params.use_final_odds, execution_ms=elapsed,
            correct=len(set(reply.picks) & top3) if top3 else None,
        )  # fmt: skip
        row["run_id"] = run_id
        async with runtime.write() as session:
            await upsert(session, table_of(Prediction), [row], conflict=PREDICTION_CONFLICT)
        predicted.append(race_id)
        await progress.advance()
    await progress.log(f"{len(predicted)} of {len(race_ids)} races predicted (run {run_id})")
    return JobOutcome(
        result={"runId": run_id, "promptId": prompt.id, "raceIds": predicted},
        failures=failures,
    )
