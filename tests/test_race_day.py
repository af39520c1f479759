"""The race-day chain on a real worker and the replay server: cards before the races,
predictions with the active prompt, results once released, then their scoring."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql import GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportQueryError
from sqlalchemy import delete, select
from sqlmodel import col

from kra_graphql.config import Settings
from kra_graphql.jobs.models import Job, JobKind, JobStatus
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.jobs.service import cancel_job, submit_job
from kra_graphql.kra.factory import create_kra_client
from kra_graphql.prediction.models import Evaluation, Prediction
from kra_graphql.raceday.chain import RaceDayParams
from kra_graphql.raceday.schedule import race_day_job_id, schedule_race_day
from kra_graphql.races.dates import SEOUL
from kra_graphql.races.models import Entry, Race, ResultStatus
from kra_graphql.runtime import Runtime
from tests.conftest import settings_env
from tests.jobs_support import load_job, wait_job
from tests.support import Process

# Seoul and Busan race on this day; no test after this one reads it.
DAY = date(2025, 5, 4)
MEETS = {1: 11, 3: 6}
PROMPT = "form-weights-v1.0"


@pytest.fixture
def chain_worker(
    private_queue: tuple[Settings, JobQueue], tmp_path: Path
) -> Iterator[tuple[Settings, JobQueue]]:
    """A worker of its own that looks for missing results again after a second."""
    own, queue = private_queue
    own = own.model_copy(update={"race_day_results_retry_s": 1, "race_day_results_rounds": 60})
    process = Process(["worker"], settings_env(own), tmp_path / "worker.log")
    process.wait_for_output("worker.started")
    try:
        yield own, queue
    finally:
        process.stop()


async def _forget_day(runtime: Runtime) -> None:
    """Earlier tests may have collected the day with its results: start from nothing."""
    async with runtime.write() as session:
        await session.execute(delete(Race).where(col(Race.race_date) == DAY))


async def _children(runtime: Runtime, parent_id: str) -> list[Job]:
    async with runtime.sessions() as session:
        rows = await session.scalars(select(Job).where(col(Job.parent_id) == parent_id))
        return list(rows.all())


def _waiting_for_results(job: Job) -> bool:
    return job.status == JobStatus.QUEUED and "without a result" in (job.current_step or "")


async def test_a_race_day_runs_its_chain_and_scores_what_it_predicted_before_the_results(
    runtime: Runtime, chain_worker: tuple[Settings, JobQueue], replay: httpx.AsyncClient
) -> None:
    _, queue = chain_worker
    await _forget_day(runtime)
    await replay.post("/_admin/hold", json={"date": DAY.strftime("%Y%m%d")})
    job = await submit_job(runtime, queue, JobKind.RACE_DAY, RaceDayParams(DAY).to_json())

    waiting = await wait_job(runtime, job.id, until=_waiting_for_results, within_s=120)
    async with runtime.sessions() as session:
        races = list((await session.scalars(select(Race).where(col(Race.race_date) == DAY))).all())
        predicted = list(
            (
                await session.scalars(
                    select(Prediction).where(col(Prediction.race_id).like("race_%_20250504_%"))
                )
            ).all()
        )
    # Cards without results, each race predicted once, before any result is known.
    assert {race.meet for race in races} == set(MEETS)
    assert len(races) == sum(MEETS.values())
    assert {race.result_status for race in races} == {ResultStatus.PENDING}
    assert sorted(p.race_id for p in predicted) == sorted(race.id for race in races)
    assert all(p.correct_count is None for p in predicted)
    assert waiting.retry_count >= 1

    await replay.post("/_admin/release", json={"date": DAY.strftime("%Y%m%d")})
    final = await wait_job(runtime, job.id, within_s=120)
    assert final.status == JobStatus.COMPLETED, (final.error, final.result)
    assert final.progress == 100

    steps = await _children(runtime, job.id)
    kinds = sorted(child.kind for child in steps)
    assert kinds.count(JobKind.COLLECTION) == len(MEETS)
    assert kinds.count(JobKind.PREDICTION) == len(MEETS)
    assert kinds.count(JobKind.RESULTS) >= 2 * len(MEETS)  # held once, then released
    assert kinds.count(JobKind.EVALUATION) == 1
    assert all(child.status == JobStatus.COMPLETED for child in steps)
    runs = sorted(child.id for child in steps if child.kind == JobKind.PREDICTION)
    assert sorted(final.result["runIds"]) == runs  # type: ignore[index]

    evaluation_id = final.result["evaluationId"]  # type: ignore[index]
    expected = await _scores_by_hand(runtime, runs)
    async with runtime.sessions() as session:
        evaluation = await session.get(Evaluation, evaluation_id)
        scored = list(
            (
                await session.scalars(
                    select(Prediction).where(col(Prediction.evaluation_id) == evaluation_id)
                )
            ).all()
        )
    assert evaluation is not None
    assert evaluation.prompt_id == PROMPT
    assert evaluation.race_count == expected["races"] == sum(MEETS.values())
    assert evaluation.success_rate == pytest.approx(expected["success"])
    assert evaluation.average_correct == pytest.approx(expected["average"])
    assert evaluation.win_hit_rate == pytest.approx(expected["win"])
    assert len(scored) == sum(MEETS.values())
    assert {p.run_id for p in scored} == set(runs)


async def _scores_by_hand(runtime: Runtime, runs: list[str]) -> dict[str, Any]:
    """Success, average correct and win hits of the runs' predictions, from the stored
    finishing positions: the definitions, written out apart from the evaluator."""
    async with runtime.sessions() as session:
        predictions = list(
            await session.scalars(select(Prediction).where(col(Prediction.run_id).in_(runs)))
        )
        placed = (
            await session.execute(
                select(col(Entry.race_id), col(Entry.gate_number), col(Entry.finish_position))
                .join(Race, col(Race.id) == col(Entry.race_id))
                .where(col(Race.race_date) == DAY, col(Entry.finish_position).is_not(None))
            )
        ).all()
    top3: dict[str, set[int]] = {}
    winners: dict[str, set[int]] = {}
    for race_id, gate, position in placed:
        assert position is not None
        if position <= 3:
            top3.setdefault(race_id, set()).add(gate)
        if position == 1:
            winners.setdefault(race_id, set()).add(gate)
    correct = [
        len({p.first_pick, p.second_pick, p.third_pick} & top3[p.race_id]) for p in predictions
    ]
    return {
        "races": len(predictions),
        "success": sum(1 for c in correct if c == 3) / len(correct),
        "average": sum(correct) / len(correct),
        "win": sum(1 for p in predictions if p.first_pick in winners[p.race_id]) / len(predictions),
    }


async def test_the_schedule_starts_a_race_day_once_from_its_cards_hour(
    runtime: Runtime, settings: Settings, private_queue: tuple[Settings, JobQueue]
) -> None:
    own, queue = private_queue
    async with httpx.AsyncClient() as http:
        kra = create_kra_client(own, runtime.redis, http)

        def at(hour: int, day: date = DAY) -> datetime:
            return datetime(day.year, day.month, day.day, hour, tzinfo=SEOUL)

        early = await schedule_race_day(runtime, queue, kra, at(own.race_day_cards_hour - 1))
        started = await schedule_race_day(runtime, queue, kra, at(own.race_day_cards_hour))
        # A worker starting later that day catches up nothing more: the day has its job.
        again = await schedule_race_day(runtime, queue, kra, at(own.race_day_cards_hour + 5))
        no_races = await schedule_race_day(runtime, queue, kra, at(12, date(2025, 5, 6)))
    try:
        assert early is None
        assert started == race_day_job_id(DAY)
        assert again is None
        assert no_races is None
        job = await load_job(runtime, race_day_job_id(DAY))
        assert job.kind == JobKind.RACE_DAY
        assert job.requested_by == "schedule"
        assert job.parameters == {"date": "20250504"}
    finally:
        await cancel_job(runtime, queue, race_day_job_id(DAY))
        async with runtime.write() as session:
            await session.execute(delete(Job).where(col(Job.id) == race_day_job_id(DAY)))


async def test_run_race_day_refuses_a_date_that_does_not_exist(
    gql_session: AsyncClientSession,
) -> None:

    mutation = "mutation R($d: String!) { runRaceDay(input: { date: $d }) { id } }"
    with pytest.raises(TransportQueryError) as refused:
        await gql_session.execute(GraphQLRequest(mutation, variable_values={"d": "2025-02-30"}))
    error = refused.value.errors[0]  # type: ignore[index]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "input.date"


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"runIds": ["job_never_ran"]}, "NOT_FOUND"),
        ({"runIds": ["job_a"], "raceIds": ["race_1_20250504_1"]}, "BAD_USER_INPUT"),
        ({"runIds": []}, "BAD_USER_INPUT"),
    ],
)
async def test_scoring_runs_needs_runs_of_that_prompt_and_nothing_else(
    gql_session: AsyncClientSession, extra: dict[str, Any], code: str
) -> None:
    mutation = "mutation E($input: EvaluatePromptInput!) { evaluatePrompt(input: $input) { id } }"
    variables = {"input": {"promptId": PROMPT, **extra}}
    with pytest.raises(TransportQueryError) as refused:
        await gql_session.execute(GraphQLRequest(mutation, variable_values=variables))
    error = refused.value.errors[0]  # type: ignore[index]
    assert error["extensions"]["code"] == code
    assert error["extensions"]["field"] == "input.runIds"
