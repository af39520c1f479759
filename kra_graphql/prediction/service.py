"""Predict one race, or score a prompt over many: the predictions are stored either way."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
from sqlalchemy import null, select
from sqlmodel import col

from kra_graphql.config import Settings
from kra_graphql.db import table_of, upsert, utcnow
from kra_graphql.errors import BadUserInput, NotFound
from kra_graphql.prediction.card import build_card
from kra_graphql.prediction.learned import LearnedPredictor
from kra_graphql.prediction.metrics import Report, ScoredPrediction, correct_count, evaluate
from kra_graphql.prediction.models import Evaluation, Prediction, PredictorKind, Prompt
from kra_graphql.prediction.predictors import (
    FormPredictor,
    LlmPredictor,
    MarketPredictor,
    PredictionAnswer,
    Predictor,
)
from kra_graphql.prediction.probabilities import as_stored, to_stored
from kra_graphql.prediction.results import load_results
from kra_graphql.prediction.scoring import score_runs
from kra_graphql.progress import JobOutcome, Progress
from kra_graphql.races.dates import parse_race_date
from kra_graphql.races.models import Race, ResultStatus
from kra_graphql.runtime import Runtime

DIRECT = "direct"
MAX_PARALLELISM = 64
MAX_EVALUATION_RACES = 5000


class Predictors:
    """The predictor of each kind, built once per process."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self._by_kind: dict[str, Predictor] = {
            PredictorKind.FORM: FormPredictor(),
            PredictorKind.MARKET: MarketPredictor(),
            PredictorKind.LEARNED: LearnedPredictor(),
        }
        self._llm: LlmPredictor | None = None
        if settings.llm_base_url:
            key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
            self._llm = LlmPredictor(
                http,
                base_url=settings.llm_base_url,
                model=settings.llm_model,
                api_key=key,
                timeout_s=settings.llm_timeout_s,
                retries=settings.llm_max_retries,
                concurrency=settings.llm_concurrency,
            )
            self._by_kind[PredictorKind.LLM] = self._llm

    def for_prompt(self, prompt: Prompt) -> Predictor:
        predictor = self._by_kind.get(prompt.predictor)
        if predictor is None:  # only the LLM predictor depends on configuration
            raise llm_not_configured()
        return predictor

    def llm(self) -> LlmPredictor:
        """The LLM predictor, for requests other than predictions (prompt rewrites)."""
        if self._llm is None:
            raise llm_not_configured()
        return self._llm


def llm_not_configured() -> BadUserInput:
    return BadUserInput("no LLM predictor is configured (set LLM_BASE_URL)", field="promptId")


async def get_prompt(runtime: Runtime, prompt_id: str) -> Prompt:
    async with runtime.sessions() as session:
        prompt = await session.get(Prompt, prompt_id)
    if prompt is None:
        raise NotFound(f"no prompt with id {prompt_id}", field="promptId")
    return prompt


async def answer_race(
    runtime: Runtime, predictor: Predictor, prompt: Prompt, race_id: str, use_final_odds: bool
) -> tuple[PredictionAnswer, int]:
    async with runtime.sessions() as session:
        card = await build_card(session, race_id, use_final_odds=use_final_odds)
    started = time.perf_counter()
    answer = await predictor.predict(card, prompt)
    return answer, round((time.perf_counter() - started) * 1000)


def prediction_row(
    race_id: str,
    prompt: Prompt,
    answer: PredictionAnswer,
    *,
    run_key: str,
    evaluation_id: int | None,
    deferred: bool,
    use_final_odds: bool,
    execution_ms: int,
    correct: int | None,
) -> dict[str, Any]:
    first, second, third = answer.picks
    probabilities = to_stored(answer.probabilities)
    return {
        "race_id": race_id,
        "prompt_id": prompt.id,
        "evaluation_id": evaluation_id,
        "run_key": run_key,
        "first_pick": first,
        "second_pick": second,
        "third_pick": third,
        "confidence": answer.confidence,
        # SQL NULL, not JSON null, where the predictor gave no probabilities.
        "win_probabilities": null() if probabilities is None else probabilities,
        "reasoning": answer.reasoning,
        "deferred": deferred,
        "valid_answer": answer.valid,
        "used_final_odds": use_final_odds,
        "model_version": answer.model_version,
        "execution_ms": execution_ms,
        "correct_count": correct,
        "created_at": utcnow(),
    }


PREDICTION_CONFLICT = ("race_id", "prompt_id", "run_key")


async def predict_race(
    runtime: Runtime,
    predictors: Predictors,
    *,
    race_id: str,
    prompt_id: str,
    confidence_threshold: int = 0,
    use_final_odds: bool = False,
) -> Prediction:
    """Predict and store (one stand-alone prediction per race and prompt, updated on re-run)."""
    prompt = await get_prompt(runtime, prompt_id)
    predictor = predictors.for_prompt(prompt)
    answer, elapsed = await answer_race(runtime, predictor, prompt, race_id, use_final_odds)
    async with runtime.sessions() as session:
        result = (await load_results(session, [race_id])).get(race_id)
    top3 = result.top3 if result else None
    correct = correct_count(answer.picks, top3) if top3 else None
    row = prediction_row(
        race_id, prompt, answer, run_key=DIRECT, evaluation_id=None,
        deferred=answer.confidence < confidence_threshold, use_final_odds=use_final_odds,
        execution_ms=elapsed, correct=correct,
    )  # fmt: skip
    async with runtime.write() as session:
        await upsert(session, table_of(Prediction), [row], conflict=PREDICTION_CONFLICT)
    async with runtime.sessions() as session:
        stored = (
            await session.scalars(
                select(Prediction).where(
                    col(Prediction.race_id) == race_id,
                    col(Prediction.prompt_id) == prompt_id,
                    col(Prediction.run_key) == DIRECT,
                )
            )
        ).one()
    return stored


@dataclass(frozen=True, slots=True)
class EvaluationParams:
    prompt_id: str
    race_ids: list[str] | None = None
    date_from: date | None = None
    date_to: date | None = None
    parallelism: int = 4
    use_final_odds: bool = False
    confidence_threshold: int = 0
    # Score the stored predictions of these predictRaces runs instead of predicting anew.
    run_ids: list[str] | None = None
    # At most this many of the races in range, drawn with this seed (same seed, same races).
    sample_size: int | None = None
    seed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "promptId": self.prompt_id,
            "raceIds": self.race_ids,
            "runIds": self.run_ids,
            "dateFrom": self.date_from.isoformat() if self.date_from else None,
            "dateTo": self.date_to.isoformat() if self.date_to else None,
            "parallelism": self.parallelism,
            "useFinalOdds": self.use_final_odds,
            "confidenceThreshold": self.confidence_threshold,
            "sampleSize": self.sample_size,
            "seed": self.seed,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EvaluationParams:
        return cls(
            prompt_id=data["promptId"],
            race_ids=data.get("raceIds"),
            date_from=parse_race_date(data["dateFrom"], field="dateFrom")
            if data.get("dateFrom")
            else None,
            date_to=parse_race_date(data["dateTo"], field="dateTo") if data.get("dateTo") else None,
            parallelism=int(data.get("parallelism", 4)),
            use_final_odds=bool(data.get("useFinalOdds", False)),
            confidence_threshold=int(data.get("confidenceThreshold", 0)),
            run_ids=data.get("runIds"),
            sample_size=int(data["sampleSize"]) if data.get("sampleSize") is not None else None,
            seed=int(data.get("seed", 0)),
        )


async def races_with_results(runtime: Runtime, params: EvaluationParams) -> list[str]:
    found = await resulted_race_ids(
        runtime, race_ids=params.race_ids, date_from=params.date_from, date_to=params.date_to
    )
    return sample_races(found, params.sample_size, params.seed)


async def resulted_race_ids(
    runtime: Runtime,
    *,
    race_ids: list[str] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> list[str]:
    """Races with a result (fog included), by date, meet and number; at most 5000."""
    statement = select(col(Race.id)).where(
        col(Race.result_status).in_([ResultStatus.RESULTED, ResultStatus.NO_RESULT])
    )
    if race_ids is not None:
        statement = statement.where(col(Race.id).in_(race_ids))
    if date_from is not None:
        statement = statement.where(col(Race.race_date) >= date_from)
    if date_to is not None:
        statement = statement.where(col(Race.race_date) <= date_to)
    statement = statement.order_by(col(Race.race_date), col(Race.meet), col(Race.race_number))
    async with runtime.sessions() as session:
        return list((await session.scalars(statement.limit(MAX_EVALUATION_RACES))).all())


def sample_races(race_ids: list[str], size: int | None, seed: int) -> list[str]:
    """`size` of the races drawn with `seed`, in their original order; all without a size.

    Drawn from the sorted ids, so the same seed picks the same races whatever order the
    database returned them in."""
    if size is None or size >= len(race_ids):
        return race_ids
    rng = random.Random(seed)  # noqa: S311 - a reproducible sample, not a secret
    chosen = set(rng.sample(sorted(race_ids), size))
    return [race_id for race_id in race_ids if race_id in chosen]


async def evaluate_prompt(
    runtime: Runtime,
    predictors: Predictors,
    progress: Progress,
    params: EvaluationParams,
) -> JobOutcome:
    """Predict every race with a known result, store each prediction, then score them all;
    or, given runs, score the predictions those runs stored."""
    prompt = await get_prompt(runtime, params.prompt_id)
    if params.run_ids is not None:
        evaluation_id = await _evaluation_row(runtime, progress.job_id, prompt, params)
        report = await score_runs(runtime, progress, prompt, params.run_ids, evaluation_id)
        return await _store_report(runtime, progress, evaluation_id, report, [])
    predictor = predictors.for_prompt(prompt)
    race_ids = await races_with_results(runtime, params)
    await progress.set_total(len(race_ids), step="predicting")
    evaluation_id = await _evaluation_row(runtime, progress.job_id, prompt, params)
    run_key = f"evaluation:{evaluation_id}"
    async with runtime.sessions() as session:
        results = await load_results(session, race_ids)

    limit = asyncio.Semaphore(params.parallelism)
    failures: list[dict[str, Any]] = []
    pairs: list[tuple[ScoredPrediction, Any]] = []

    async def one(race_id: str) -> None:
        async with limit:
            await progress.check_cancelled()
            try:
                answer, elapsed = await answer_race(
                    runtime, predictor, prompt, race_id, params.use_final_odds
                )
            except BadUserInput as error:  # e.g. fewer than three starters, no odds
                failures.append({"raceId": race_id, "error": error.message})
                await progress.advance()
                return
            deferred = answer.confidence < params.confidence_threshold
            result = results[race_id]
            top3 = result.top3
            row = prediction_row(
                race_id, prompt, answer, run_key=run_key, evaluation_id=evaluation_id,
                deferred=deferred, use_final_odds=params.use_final_odds, execution_ms=elapsed,
                correct=correct_count(answer.picks, top3) if top3 else None,
            )  # fmt: skip
            async with runtime.write() as session:
                await upsert(session, table_of(Prediction), [row], conflict=PREDICTION_CONFLICT)
            # The stored, rounded probabilities: the same figures as rescoring the row.
            scored = ScoredPrediction(
                answer.picks, answer.confidence, deferred, answer.valid,
                as_stored(answer.probabilities),
            )  # fmt: skip
            pairs.append((scored, result))
            await progress.advance()

    await asyncio.gather(*(one(race_id) for race_id in race_ids))
    return await _store_report(runtime, progress, evaluation_id, evaluate(pairs), failures)


async def _store_report(
    runtime: Runtime,
    progress: Progress,
    evaluation_id: int,
    report: Report,
    failures: list[dict[str, Any]],
) -> JobOutcome:
    overall = report.overall
    async with runtime.write() as session:
        evaluation = await session.get(Evaluation, evaluation_id)
        assert evaluation is not None
        evaluation.race_count = overall.races
        evaluation.excluded_count = overall.excluded
        evaluation.success_rate = overall.success_rate
        evaluation.average_correct = overall.average_correct
        evaluation.win_hit_rate = overall.win_hit_rate
        evaluation.metrics = report.as_json()
        evaluation.race_set = report.race_set
    await progress.log(
        f"{overall.races} races scored ({overall.excluded} without a top three): "
        f"success {overall.success_rate:.3f}, average correct {overall.average_correct:.3f}, "
        f"win hit {overall.win_hit_rate:.3f}"
    )
    return JobOutcome(
        result={"evaluationId": evaluation_id, "metrics": report.as_json()["overall"]},
        failures=failures,
    )


async def _evaluation_row(
    runtime: Runtime, job_id: str, prompt: Prompt, params: EvaluationParams
) -> int:
    """One evaluation per job: a re-run of the job reuses its row."""
    row = {
        "prompt_id": prompt.id,
        "job_id": job_id,
        "used_final_odds": params.use_final_odds,
        "parameters": params.to_json(),
        "metrics": {},
        "created_at": utcnow(),
        "race_count": 0,
        "excluded_count": 0,
        "success_rate": 0.0,
        "average_correct": 0.0,
        "win_hit_rate": 0.0,
    }
    async with runtime.write() as session:
        await upsert(
            session, table_of(Evaluation), [row], conflict=["job_id"], update=["parameters"]
        )
        evaluation_id = await session.scalar(
            select(col(Evaluation.id)).where(col(Evaluation.job_id) == job_id)
        )
    assert evaluation_id is not None
    return evaluation_id


def check_parallelism(value: int, *, field: str) -> int:
    if not 1 <= value <= MAX_PARALLELISM:
        raise BadUserInput(f"must be between 1 and {MAX_PARALLELISM}", field=field)
    return value


def check_sample_size(value: int | None, *, field: str) -> int | None:
    if value is not None and not 1 <= value <= MAX_EVALUATION_RACES:
        raise BadUserInput(f"must be between 1 and {MAX_EVALUATION_RACES}", field=field)
    return value


def check_threshold(value: int, *, field: str) -> int:
    if not 0 <= value <= 100:
        raise BadUserInput("must be between 0 and 100", field=field)
    return value


def unique_ids(values: Sequence[str], *, field: str, limit: int) -> list[str]:
    if not values:
        raise BadUserInput("give at least one id", field=field)
    if len(values) > limit:
        raise BadUserInput(f"at most {limit} ids", field=field)
    if len(set(values)) != len(values):
        raise BadUserInput("ids must not repeat", field=field)
    return list(values)
