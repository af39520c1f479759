"""predictRaces: a recorded day predicted as one job, through the real server and worker."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportQueryError
from sqlalchemy import select, update
from sqlmodel import col

from kra_graphql.collection.params import CollectParams
from kra_graphql.jobs.models import JobKind, JobStatus
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.jobs.reporter import JobReporter
from kra_graphql.prediction.day import DayPredictionParams, predict_day
from kra_graphql.prediction.metrics import expected_calibration_error
from kra_graphql.prediction.models import Prediction
from kra_graphql.prediction.service import Predictors
from kra_graphql.races.dates import parse_race_date
from kra_graphql.races.models import Entry, Race, ResultStatus
from kra_graphql.runtime import Runtime
from tests.access_support import ws_transport
from tests.conftest import API_KEY
from tests.jobs_support import load_job, run_to_end, wait_job

pytestmark = pytest.mark.usefixtures("worker_process")

# Busan 2025-05-18, after Busan 2025-05-11 (the form the predictor reads); no other test
# predicts or changes these days.
DAY, MEET, HISTORY = "20250518", 3, "20250511"
PROMPT = "form-weights-v1.0"

PREDICT_RACES = """
mutation P($input: PredictRacesInput!) {
  predictRaces(input: $input) { id kind status parameters requestedBy }
}
"""
PROGRESS = """
subscription Progress($id: ID!) {
  jobProgress(id: $id) {
    type job { id status progress totalSteps completedSteps currentStep result }
  }
}
"""
RUN = """
query Run($run: ID!) {
  predictions(filter: {runId: $run}, first: 100) {
    totalCount
    edges { node { id runId predicted confidence usedFinalOdds race { id } prompt { id } } }
  }
}
"""


def request(document: str, **variables: Any) -> GraphQLRequest:
    return GraphQLRequest(document, variable_values=variables)


@pytest.fixture(scope="module")
async def day_races(runtime: Runtime, job_queue: JobQueue, replay_url: str) -> list[str]:
    """The day's race ids, collected (with the week before) from the replay server."""
    async with httpx.AsyncClient(base_url=replay_url) as replay:
        await replay.post("/_admin/reset")
    for day in (HISTORY, DAY):
        params = CollectParams(race_date=parse_race_date(day, field="d"), meet=MEET, enrich=False)
        job = await run_to_end(runtime, job_queue, JobKind.COLLECTION, params.to_json())
        assert job.status == JobStatus.COMPLETED, job.error
    async with runtime.sessions() as session:
        ids = await session.scalars(
            select(col(Race.id))
            .where(col(Race.race_date) == parse_race_date(DAY, field="d"), col(Race.meet) == MEET)
            .order_by(col(Race.race_number))
        )
        return list(ids.all())


async def submit(session: AsyncClientSession, **input_: Any) -> dict[str, Any]:
    fields = {"date": DAY, "meet": MEET, "promptId": PROMPT, **input_}
    job: dict[str, Any] = (await session.execute(request(PREDICT_RACES, input=fields)))[
        "predictRaces"
    ]
    return job


async def follow(api_url: str, job_id: str) -> list[dict[str, Any]]:
    async def events() -> list[dict[str, Any]]:
        async with Client(transport=ws_transport(api_url, API_KEY)) as session:
            return [e["jobProgress"] async for e in session.subscribe(request(PROGRESS, id=job_id))]

    return await asyncio.wait_for(events(), 90)


async def run_of(session: AsyncClientSession, run_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (await session.execute(request(RUN, run=run_id)))["predictions"]
    return found


def orders(run: dict[str, Any]) -> dict[str, tuple[list[int], int]]:
    return {
        edge["node"]["race"]["id"]: (edge["node"]["predicted"], edge["node"]["confidence"])
        for edge in run["edges"]
    }


async def predict_day_over_api(api_url: str, session: AsyncClientSession, **input_: Any) -> str:
    job = await submit(session, **input_)
    events = await follow(api_url, job["id"])
    assert events[-1]["job"]["status"] == "COMPLETED", events[-1]
    return str(job["id"])


async def test_a_day_is_one_job_with_one_step_and_one_prediction_per_race(
    api_url: str, gql_session: AsyncClientSession, day_races: list[str]
) -> None:
    assert len(day_races) >= 3
    job = await submit(gql_session)
    assert job["kind"] == "PREDICTION"
    assert job["status"] == "QUEUED"
    assert job["parameters"] == {
        "date": DAY, "meet": MEET, "promptId": PROMPT, "confidenceThreshold": 0,
        "useFinalOdds": False,
    }  # fmt: skip

    events = await follow(api_url, job["id"])

    final = events[-1]["job"]
    assert final["status"] == "COMPLETED"
    assert final["progress"] == 100
    assert final["totalSteps"] == final["completedSteps"] == len(day_races)
    assert final["result"]["runId"] == job["id"]
    assert final["result"]["raceIds"] == day_races
    assert final["result"]["failures"] == []
    # One step per race, each named after its race.
    steps = {event["job"]["currentStep"] for event in events}
    assert set(day_races) <= steps
    completed = [event["job"]["completedSteps"] for event in events]
    assert completed == sorted(completed)

    run = await run_of(gql_session, job["id"])
    assert run["totalCount"] == len(day_races)
    nodes = [edge["node"] for edge in run["edges"]]
    assert sorted(node["race"]["id"] for node in nodes) == sorted(day_races)
    assert {node["runId"] for node in nodes} == {job["id"]}
    assert {node["prompt"]["id"] for node in nodes} == {PROMPT}
    for node in nodes:
        assert len(set(node["predicted"])) == 3
        assert node["usedFinalOdds"] is False

    # Each prediction is the race's too.
    listed = await gql_session.execute(
        request("query R($id: ID!) { race(id: $id) { predictions { runId } } }", id=day_races[0])
    )
    assert job["id"] in {p["runId"] for p in listed["race"]["predictions"]}


async def test_predicting_again_adds_a_run_and_a_retried_run_adds_nothing(
    api_url: str,
    gql_session: AsyncClientSession,
    day_races: list[str],
    runtime: Runtime,
) -> None:
    first = await predict_day_over_api(api_url, gql_session)
    second = await predict_day_over_api(api_url, gql_session)
    assert second != first
    first_run, second_run = await run_of(gql_session, first), await run_of(gql_session, second)
    assert first_run["totalCount"] == second_run["totalCount"] == len(day_races)
    assert orders(first_run) == orders(second_run)  # the same data, the same prompt
    first_ids = {edge["node"]["id"] for edge in first_run["edges"]}
    assert first_ids.isdisjoint(edge["node"]["id"] for edge in second_run["edges"])

    # The same job once more, as after a worker died mid-run: its rows are updated in place.
    job = await load_job(runtime, first)
    params = DayPredictionParams.from_json(job.parameters)
    async with httpx.AsyncClient() as http:
        outcome = await predict_day(
            runtime, Predictors(runtime.settings, http), JobReporter(runtime, job), params
        )
    assert outcome.result["runId"] == first
    again = await run_of(gql_session, first)
    assert again["totalCount"] == len(day_races)
    assert {edge["node"]["id"] for edge in again["edges"]} == first_ids
    assert (await run_of(gql_session, second))["totalCount"] == len(day_races)


POST_RACE_COLUMNS = (
    col(Entry.id),
    col(Entry.finish_position),
    col(Entry.finish_code),
    col(Entry.finish_time),
    col(Entry.margin),
    col(Entry.win_odds),
    col(Entry.place_odds),
    col(Entry.raw),
)


@asynccontextmanager
async def poisoned(runtime: Runtime, day_races: list[str]) -> AsyncIterator[None]:
    """Every post-race field of the day's races made up, then put back as it was."""
    async with runtime.sessions() as session:
        entries = (
            await session.execute(
                select(*POST_RACE_COLUMNS).where(col(Entry.race_id).in_(day_races))
            )
        ).all()
        races = (
            await session.execute(
                select(col(Race.id), col(Race.raw), col(Race.result_status)).where(
                    col(Race.id).in_(day_races)
                )
            )
        ).all()
    async with runtime.write() as session:
        for entry in entries:
            # Made-up finishing positions, codes, times, margins and final odds.
            await session.execute(
                update(Entry)
                .where(col(Entry.id) == entry.id)
                .values(
                    finish_position=100 - entry.id % 97,
                    finish_code=99,
                    finish_time=50.0 + entry.id % 13,
                    margin="poisoned",
                    win_odds=1.0 + entry.id % 7,
                    place_odds=1.0 + entry.id % 5,
                    raw={"ord": 1, "rcTime": 1, "winOdds": 1.1, "plcOdds": 1.1},
                )
            )
        await session.execute(
            update(Race)
            .where(col(Race.id).in_(day_races))
            .values(raw=[{"ord": 1, "rcTime": 1}], result_status=ResultStatus.RESULTED)
        )
    try:
        yield
    finally:
        async with runtime.write() as session:
            for entry in entries:
                values: dict[str, Any] = dict(entry._asdict())
                await session.execute(
                    update(Entry).where(col(Entry.id) == values.pop("id")).values(**values)
                )
            for race_id, raw, result_status in races:
                await session.execute(
                    update(Race)
                    .where(col(Race.id) == race_id)
                    .values(raw=raw, result_status=result_status)
                )


async def test_poisoned_post_race_fields_change_no_prediction(
    api_url: str,
    gql_session: AsyncClientSession,
    day_races: list[str],
    runtime: Runtime,
) -> None:
    clean = orders(await run_of(gql_session, await predict_day_over_api(api_url, gql_session)))
    assert len(clean) == len(day_races)

    async with poisoned(runtime, day_races):
        run = await predict_day_over_api(api_url, gql_session, useFinalOdds=False)
        after = orders(await run_of(gql_session, run))

    assert after == clean


async def test_bad_input_names_its_field_and_queues_nothing(
    gql_session: AsyncClientSession, day_races: list[str]
) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"promptId": "no-such-prompt-v1"}, "NOT_FOUND", "input.promptId"),
        ({"date": "2025-13-40"}, "BAD_USER_INPUT", "input.date"),
        ({"date": "20990101"}, "BAD_USER_INPUT", "input.date"),
        ({"meet": 4}, "BAD_USER_INPUT", "input.meet"),
        ({"confidenceThreshold": 101}, "BAD_USER_INPUT", "input.confidenceThreshold"),
    ]
    for input_, code, field in cases:
        with pytest.raises(TransportQueryError) as raised:
            await submit(gql_session, **input_)
        error = (raised.value.errors or [{}])[0]
        assert (error["extensions"]["code"], error["extensions"].get("field")) == (code, field)
        assert raised.value.data is None


async def test_a_day_without_races_fails_the_job_saying_so(
    gql_session: AsyncClientSession, runtime: Runtime
) -> None:
    job = await submit(gql_session, date="20240102", meet=1)
    ended = await wait_job(runtime, job["id"], within_s=60)
    assert ended.status == JobStatus.FAILED
    assert "collect the day first" in (ended.error or "")
    run = await run_of(gql_session, job["id"])
    assert run["totalCount"] == 0


SCORE_RUN = """
mutation E($input: EvaluatePromptInput!) { evaluatePrompt(input: $input) { id } }
"""
FIELD_FIGURES = """
query V($id: ID!) { node(id: $id) { ... on Evaluation {
  raceCount fieldLogLoss fieldBrier fieldCalibrationError metrics } } }
"""


async def test_scoring_a_run_reads_the_probabilities_it_stored(
    api_url: str, gql_session: AsyncClientSession, day_races: list[str], runtime: Runtime
) -> None:
    run = await predict_day_over_api(api_url, gql_session)
    async with runtime.sessions() as session:
        stored = list(
            (await session.scalars(select(Prediction).where(col(Prediction.run_id) == run))).all()
        )
        placed = (
            await session.execute(
                select(col(Entry.race_id), col(Entry.gate_number), col(Entry.finish_position))
                .where(col(Entry.race_id).in_(day_races))
                .where(col(Entry.finish_position).is_not(None))
            )
        ).all()
    assert len(stored) == len(day_races)
    assert all(row.win_probabilities for row in stored)  # FORM stores them
    # Every starter made equally likely after the run: figures from the form's own
    # probabilities would differ, so they show which ones were scored.
    uniform = {
        row.id: {gate: 1 / len(row.win_probabilities or {}) for gate in row.win_probabilities or {}}
        for row in stored
    }
    async with runtime.write() as session:
        for row in stored:
            await session.execute(
                update(Prediction)
                .where(col(Prediction.id) == row.id)
                .values(win_probabilities=uniform[row.id])
            )

    submitted = await gql_session.execute(
        request(SCORE_RUN, input={"promptId": PROMPT, "runIds": [run]})
    )
    job = await wait_job(runtime, submitted["evaluatePrompt"]["id"], within_s=60)
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result is not None
    found = await gql_session.execute(
        request(FIELD_FIGURES, id=f"evaluation_{job.result['evaluationId']}")
    )
    evaluation = found["node"]

    # The definitions of docs/metrics.md written out: with n starters at 1/n and k
    # winners, P(winner) = k/n and Brier = k (1/n - 1/k)^2 + (n - k) / n^2.
    winners: dict[str, set[int]] = {}
    for race_id, gate, position in placed:
        if position == 1:
            winners.setdefault(race_id, set()).add(int(gate))
    losses: list[float] = []
    briers: list[float] = []
    pairs: list[tuple[float, bool]] = []
    for row in stored:
        won = winners.get(row.race_id)
        if not won:
            continue  # no winner: in none of the field figures
        gates = uniform[row.id]
        n, k = len(gates), len(won)
        assert won <= {int(gate) for gate in gates}
        losses.append(-math.log(k / n))
        briers.append(k * (1 / n - 1 / k) ** 2 + (n - k) / n**2)
        pairs.extend((1 / n, int(gate) in won) for gate in gates)
    assert losses, "the day has results"
    assert evaluation["fieldLogLoss"] == pytest.approx(sum(losses) / len(losses))
    assert evaluation["fieldBrier"] == pytest.approx(sum(briers) / len(briers))
    assert evaluation["fieldCalibrationError"] == pytest.approx(expected_calibration_error(pairs))
    assert evaluation["fieldLogLoss"] == evaluation["metrics"]["overall"]["field_log_loss"]
