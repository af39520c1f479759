"""evaluatePrompt's sample, the new Evaluation figures, promptLeaderboard and the LLM
base prompt, through the real server and worker."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from gql import GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportQueryError
from sqlalchemy import delete, func, select
from sqlmodel import col

from kra_graphql.collection.params import CollectParams
from kra_graphql.jobs.models import JobKind, JobStatus
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.prediction.models import Prediction
from kra_graphql.prediction.predictors import FORM_FEATURES
from kra_graphql.races.dates import parse_race_date
from kra_graphql.races.models import Race, ResultStatus
from kra_graphql.runtime import Runtime
from tests.jobs_support import run_to_end, wait_job

pytestmark = pytest.mark.usefixtures("worker_process")

DAY = "20250517"  # Seoul; no other test collects it, so its evaluations are ours alone
MEET = 1
EVALUATE = "mutation E($input: EvaluatePromptInput!) { evaluatePrompt(input: $input) { id } }"
EVALUATION = """
query V($id: ID!) { node(id: $id) { ... on Evaluation {
  raceCount excludedCount successRate successRateAll averageCorrect averageCorrectAll
  winHitRate coverage logLoss calibrationError ndcgAt3 metrics prompt { id }
  fieldLogLoss fieldBrier fieldCalibrationError
  predictions(first: 100) { edges { node { race { id } valid_answer: validAnswer
    winProbabilities { gate } } } }
} } }
"""
LEADERBOARD = """
query L($filter: PromptLeaderboardFilter) { promptLeaderboard(filter: $filter) {
  raceCount raceSet entries { rank prompt { id } evaluation { id averageCorrect successRate } }
} }
"""


def request(document: str, **variables: Any) -> GraphQLRequest:
    return GraphQLRequest(document, variable_values=variables)


async def error_of(session: AsyncClientSession, document: str, **variables: Any) -> Any:
    with pytest.raises(TransportQueryError) as raised:
        await session.execute(request(document, **variables))
    extensions = (raised.value.errors or [{}])[0]["extensions"]
    return extensions["code"], extensions.get("field")


@pytest.fixture(scope="module")
async def seoul_day(runtime: Runtime, job_queue: JobQueue, replay_url: str) -> str:
    async with httpx.AsyncClient(base_url=replay_url) as replay:
        await replay.post("/_admin/reset")
    # An evaluation over the day scores every meet: races an earlier test stored at the
    # other meet would count too.
    day = parse_race_date(DAY, field="d")
    async with runtime.write() as session:
        await session.execute(delete(Race).where(col(Race.race_date) == day))
    params = CollectParams(race_date=day, meet=MEET, enrich=False)
    job = await run_to_end(runtime, job_queue, JobKind.COLLECTION, params.to_json())
    assert job.status == JobStatus.COMPLETED, job.error
    return DAY


@pytest.fixture(scope="module")
async def race_total(runtime: Runtime, seoul_day: str) -> int:
    """The day's races with a result (or none): those evaluatePrompt scores."""
    async with runtime.sessions() as session:
        found = await session.scalar(
            select(func.count())
            .select_from(Race)
            .where(col(Race.race_date) == parse_race_date(seoul_day, field="d"))
            .where(col(Race.meet) == MEET)
            .where(col(Race.result_status).in_([ResultStatus.RESULTED, ResultStatus.NO_RESULT]))
        )
    assert found is not None
    assert found >= 6
    return int(found)


async def evaluate(session: AsyncClientSession, runtime: Runtime, **input_: Any) -> dict[str, Any]:
    submitted = await session.execute(request(EVALUATE, input=input_))
    job = await wait_job(runtime, submitted["evaluatePrompt"]["id"], within_s=90)
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result is not None
    found = await session.execute(
        request(EVALUATION, id=f"evaluation_{job.result['evaluationId']}")
    )
    node: dict[str, Any] = found["node"]
    node["id"] = f"evaluation_{job.result['evaluationId']}"
    return node


def races_of(evaluation: dict[str, Any]) -> set[str]:
    return {edge["node"]["race"]["id"] for edge in evaluation["predictions"]["edges"]}


async def test_a_seeded_sample_draws_the_same_races(
    gql_session: AsyncClientSession, runtime: Runtime, seoul_day: str, race_total: int
) -> None:
    options = {"promptId": "form-weights-v1.0", "dateFrom": seoul_day, "dateTo": seoul_day}
    first = await evaluate(gql_session, runtime, **options, sampleSize=4, seed=7)
    again = await evaluate(gql_session, runtime, **options, sampleSize=4, seed=7)
    assert len(races_of(first)) == 4
    assert races_of(first) == races_of(again)
    assert first["raceCount"] + first["excludedCount"] == 4
    # Larger than the range: every race.
    everything = await evaluate(gql_session, runtime, **options, sampleSize=50, seed=7)
    assert len(races_of(everything)) == race_total
    assert races_of(first) < races_of(everything)


@pytest.mark.parametrize(
    "extra",
    [{"sampleSize": 0}, {"sampleSize": 5001}, {"sampleSize": -3}],
)
async def test_sample_size_out_of_bounds_is_refused(
    gql_session: AsyncClientSession, seoul_day: str, extra: dict[str, Any]
) -> None:
    input_ = {"promptId": "form-weights-v1.0", "dateFrom": seoul_day, "dateTo": seoul_day, **extra}
    assert await error_of(gql_session, EVALUATE, input=input_) == (
        "BAD_USER_INPUT",
        "input.sampleSize",
    )


async def test_sample_size_with_run_ids_is_refused(gql_session: AsyncClientSession) -> None:
    input_ = {"promptId": "form-weights-v1.0", "runIds": ["job_x"], "sampleSize": 3}
    assert await error_of(gql_session, EVALUATE, input=input_) == (
        "BAD_USER_INPUT",
        "input.sampleSize",
    )


async def test_evaluation_exposes_the_new_figures(
    gql_session: AsyncClientSession, runtime: Runtime, seoul_day: str, race_total: int
) -> None:
    evaluation = await evaluate(
        gql_session, runtime, promptId="form-weights-v1.0", dateFrom=seoul_day, dateTo=seoul_day,
        confidenceThreshold=30,
    )  # fmt: skip
    overall = evaluation["metrics"]["overall"]
    scored = evaluation["raceCount"]
    assert scored + evaluation["excludedCount"] == race_total
    pairs = {
        "successRate": "success_rate", "successRateAll": "success_rate_all",
        "averageCorrect": "average_correct", "averageCorrectAll": "average_correct_all",
        "coverage": "coverage", "logLoss": "log_loss", "calibrationError": "calibration_error",
        "ndcgAt3": "ndcg_at_3", "fieldLogLoss": "field_log_loss", "fieldBrier": "field_brier",
        "fieldCalibrationError": "field_calibration_error",
    }  # fmt: skip
    for field, key in pairs.items():
        assert evaluation[field] == overall[key], field
    # The all-races figures can only be lower: misses are added, hits are not.
    assert evaluation["averageCorrectAll"] <= evaluation["averageCorrect"] or (
        overall["judged"] == 0
    )
    assert evaluation["averageCorrectAll"] == pytest.approx(
        evaluation["averageCorrect"] * overall["judged"] / scored
    )
    assert evaluation["coverage"] == pytest.approx(overall["judged"] / scored)  # FORM is valid
    assert 0 < overall["judged"] < scored  # the threshold deferred some, not all
    if overall["judged"]:
        assert evaluation["logLoss"] > 0
        assert 0 <= evaluation["calibrationError"] <= 1
        assert 0 <= evaluation["ndcgAt3"] <= 1
        # FORM gives every starter a probability: the field figures are there too.
        assert evaluation["fieldLogLoss"] > 0
        assert 0 <= evaluation["fieldBrier"] <= 2
        assert 0 <= evaluation["fieldCalibrationError"] <= 1


async def test_leaderboard_ranks_prompts_on_the_same_races(
    gql_session: AsyncClientSession, runtime: Runtime, seoul_day: str, race_total: int
) -> None:
    zeroed = dict.fromkeys(FORM_FEATURES, 0.0) | {"rating": 1.0}
    new = {"name": "board-form", "version": "v1", "text": "rating only", "predictor": "FORM",
           "parentId": "form-weights-v1.0", "parameters": {"weights": zeroed}}  # fmt: skip
    created = await gql_session.execute(
        request(
            "mutation C($input: CreatePromptInput!) { createPrompt(input: $input) { id } }",
            input=new,
        )
    )
    other = created["createPrompt"]["id"]
    day = {"dateFrom": seoul_day, "dateTo": seoul_day}
    form = await evaluate(gql_session, runtime, promptId="form-weights-v1.0", **day)
    tuned = await evaluate(gql_session, runtime, promptId=other, **day)
    # A prompt scored on a sample only covers another race set: it is not compared.
    await evaluate(gql_session, runtime, promptId=other, **day, sampleSize=3, seed=1)

    answer = await gql_session.execute(
        request(LEADERBOARD, filter={"dateFrom": seoul_day, "dateTo": seoul_day, "meet": MEET})
    )
    board = answer["promptLeaderboard"]
    assert board["raceCount"] == race_total
    assert len(board["raceSet"]) == 64
    by_prompt = {entry["prompt"]["id"]: entry for entry in board["entries"]}
    assert {"form-weights-v1.0", other} <= set(by_prompt)
    assert by_prompt["form-weights-v1.0"]["evaluation"]["id"] == form["id"]
    assert by_prompt[other]["evaluation"]["id"] == tuned["id"]
    keys = [
        (e["evaluation"]["averageCorrect"], e["evaluation"]["successRate"])
        for e in board["entries"]
    ]
    assert keys == sorted(keys, reverse=True)
    ranks = [entry["rank"] for entry in board["entries"]]
    assert ranks[0] == 1
    assert ranks == sorted(ranks)
    for entry, previous, key, before in zip(
        board["entries"][1:], board["entries"][:-1], keys[1:], keys[:-1], strict=True
    ):
        assert (entry["rank"] == previous["rank"]) == (key == before)

    # No evaluation lies inside another meet's races.
    empty = await gql_session.execute(request(LEADERBOARD, filter={"meet": 3, **day}))
    assert empty["promptLeaderboard"] == {"raceCount": 0, "raceSet": None, "entries": []}
    assert await error_of(gql_session, LEADERBOARD, filter={"meet": 9}) == (
        "BAD_USER_INPUT",
        "filter.meet",
    )
    assert await error_of(gql_session, LEADERBOARD, filter={"dateFrom": "2025-13-01"}) == (
        "BAD_USER_INPUT",
        "filter.dateFrom",
    )


async def test_base_prompt_is_an_llm_prompt_the_answer_parser_reads(
    gql_session: AsyncClientSession,
    runtime: Runtime,
    seoul_day: str,
    race_total: int,
    fake_llm: httpx.AsyncClient,
) -> None:
    evaluation = await evaluate(
        gql_session, runtime, promptId="base-prompt-v1.0", dateFrom=seoul_day, dateTo=seoul_day
    )
    assert evaluation["prompt"]["id"] == "base-prompt-v1.0"
    answers = [edge["node"]["valid_answer"] for edge in evaluation["predictions"]["edges"]]
    assert len(answers) == race_total
    assert all(answers)
    assert evaluation["metrics"]["overall"]["valid_rate"] == 1.0
    # The LLM states only its confidence: no per-starter figures.
    assert all(
        edge["node"]["winProbabilities"] is None for edge in evaluation["predictions"]["edges"]
    )
    assert (evaluation["fieldLogLoss"], evaluation["fieldBrier"]) == (None, None)
    assert evaluation["fieldCalibrationError"] is None
    # Stored as SQL NULL, not as a JSON null.
    evaluation_id = int(evaluation["id"].removeprefix("evaluation_"))
    async with runtime.sessions() as session:
        without = await session.scalar(
            select(func.count())
            .select_from(Prediction)
            .where(col(Prediction.evaluation_id) == evaluation_id)
            .where(col(Prediction.win_probabilities).is_(None))
        )
    assert without == race_total
    stats = (await fake_llm.get("/_admin/stats")).json()
    assert stats["requests"] >= race_total
