"""Prompts, predictRace and evaluatePrompt through the real server and worker."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from gql import GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportQueryError

from kra_graphql.collection.params import CollectParams
from kra_graphql.jobs.models import JobKind, JobStatus
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.races.dates import parse_race_date
from kra_graphql.runtime import Runtime
from tests.jobs_support import run_to_end, wait_job

pytestmark = pytest.mark.usefixtures("worker_process")

PREDICT = """
mutation P($input: PredictRaceInput!) {
  predictRace(input: $input) { id predicted confidence deferred correctCount usedFinalOdds
    reasoning race { id entries { gateNumber scratched } } prompt { id predictor }
    winProbabilities { gate probability } }
}
"""


def request(document: str, **variables: Any) -> GraphQLRequest:
    return GraphQLRequest(document, variable_values=variables)


async def code_and_field(session: AsyncClientSession, document: str, **variables: Any) -> Any:
    with pytest.raises(TransportQueryError) as raised:
        await session.execute(request(document, **variables))
    return (raised.value.errors or [{}])[0]["extensions"]


@pytest.fixture(scope="module")
async def jeju_day(runtime: Runtime, job_queue: JobQueue, replay_url: str) -> str:
    async with httpx.AsyncClient(base_url=replay_url) as replay:
        await replay.post("/_admin/reset")
    params = CollectParams(race_date=parse_race_date("20250509", field="d"), meet=2, enrich=False)
    job = await run_to_end(runtime, job_queue, JobKind.COLLECTION, params.to_json())
    assert job.status == JobStatus.COMPLETED, job.error
    return "20250509"


async def test_default_prompts_exist(gql_session: AsyncClientSession) -> None:
    result = await gql_session.execute(
        request("{ prompts { id name version predictor parameters active text } }")
    )
    by_id = {prompt["id"]: prompt for prompt in result["prompts"]}
    assert {"form-weights-v1.0", "base-prompt-v1.0", "market-v1.0", "llm-prompt-v1.0"} <= set(by_id)
    form = by_id["form-weights-v1.0"]
    assert (form["name"], form["version"], form["predictor"], form["active"]) == (
        "form-weights",
        "v1.0",
        "FORM",
        True,
    )
    assert "recent_form" in form["parameters"]["weights"]
    # base-prompt-v1.0 is the analyst prompt the LLM predictor fills with the card.
    base = by_id["base-prompt-v1.0"]
    assert (base["predictor"], base["active"]) == ("LLM", False)
    assert "{race_card}" in base["text"]
    assert '"picks"' in base["text"]
    assert '"confidence"' in base["text"]


async def test_predict_race_stores_one_prediction_per_race_and_prompt(
    gql_session: AsyncClientSession, jeju_day: str
) -> None:
    race_id = f"race_2_{jeju_day}_1"
    variables = {"input": {"raceId": race_id, "promptId": "form-weights-v1.0"}}
    first = (await gql_session.execute(request(PREDICT, **variables)))["predictRace"]
    again = (await gql_session.execute(request(PREDICT, **variables)))["predictRace"]
    listed = await gql_session.execute(
        request(
            'query L($r: ID!) { predictions(filter: {raceId: $r, promptId: "form-weights-v1.0"}) '
            "{ totalCount } race(id: $r) { predictions { id } } }",
            r=race_id,
        )
    )
    assert len(first["predicted"]) == 3
    assert len(set(first["predicted"])) == 3
    assert 0 <= first["confidence"] <= 100
    assert first["correctCount"] in {0, 1, 2, 3}
    assert first["race"]["id"] == race_id
    assert first["usedFinalOdds"] is False
    assert again["id"] == first["id"]
    assert again["predicted"] == first["predicted"]
    assert listed["predictions"]["totalCount"] == 1
    assert listed["race"]["predictions"] == [{"id": first["id"]}]


async def test_a_form_prediction_gives_every_starter_a_win_probability(
    gql_session: AsyncClientSession, jeju_day: str
) -> None:
    race_id = f"race_2_{jeju_day}_3"
    variables = {"input": {"raceId": race_id, "promptId": "form-weights-v1.0"}}
    prediction = (await gql_session.execute(request(PREDICT, **variables)))["predictRace"]
    starters = [e["gateNumber"] for e in prediction["race"]["entries"] if not e["scratched"]]
    probabilities = prediction["winProbabilities"]
    gates = [p["gate"] for p in probabilities]
    assert gates == sorted(starters)  # every starter, by gate
    assert all(0 < p["probability"] < 1 for p in probabilities)
    assert sum(p["probability"] for p in probabilities) == pytest.approx(1, abs=1e-5)
    by_gate = {p["gate"]: p["probability"] for p in probabilities}
    first = prediction["predicted"][0]
    assert prediction["confidence"] == round(100 * by_gate[first])
    assert by_gate[first] == max(by_gate.values())  # the first pick is the favourite
    # Read back through a query, as stored.
    listed = await gql_session.execute(
        request(
            "query R($r: ID!) { race(id: $r) { predictions { id "
            "winProbabilities { gate probability } } } }",
            r=race_id,
        )
    )
    assert {"id": prediction["id"], "winProbabilities": probabilities} in listed["race"][
        "predictions"
    ]


async def test_market_needs_final_odds_and_then_picks_the_favourites(
    gql_session: AsyncClientSession, jeju_day: str
) -> None:
    race_id = f"race_2_{jeju_day}_2"
    refused = await code_and_field(
        gql_session, PREDICT, input={"raceId": race_id, "promptId": "market-v1.0"}
    )
    assert refused == {"code": "BAD_USER_INPUT", "field": "input.useFinalOdds"}
    market = await gql_session.execute(
        request(
            PREDICT,
            input={
                "raceId": race_id,
                "promptId": "market-v1.0",
                "useFinalOdds": True,
                "confidenceThreshold": 100,
            },
        )
    )
    odds = await gql_session.execute(
        request(
            "query O($r: ID!) { race(id: $r) { entries { gateNumber winOdds scratched } } }",
            r=race_id,
        )
    )
    runners = [e for e in odds["race"]["entries"] if not e["scratched"] and e["winOdds"]]
    favourites = [
        e["gateNumber"] for e in sorted(runners, key=lambda e: (e["winOdds"], e["gateNumber"]))
    ]
    assert market["predictRace"]["predicted"] == favourites[:3]
    # The odds' implied probabilities, rescaled to sum to 1.
    implied = market["predictRace"]["winProbabilities"]
    assert sum(p["probability"] for p in implied) == pytest.approx(1, abs=1e-5)
    assert max(implied, key=lambda p: p["probability"])["gate"] == favourites[0]
    assert market["predictRace"]["usedFinalOdds"] is True
    assert market["predictRace"]["deferred"] is True


RACE = "race_2_20250509_1"
FORM = "form-weights-v1.0"


@pytest.mark.parametrize(
    ("input_", "expected"),
    [
        (
            {"raceId": "race_2_20990101_1", "promptId": "form-weights-v1.0"},
            ("NOT_FOUND", "input.raceId"),
        ),
        ({"raceId": RACE, "promptId": "nope-v1"}, ("NOT_FOUND", "input.promptId")),
        (
            {"raceId": RACE, "promptId": "llm-prompt-v1.0"},
            ("BAD_USER_INPUT", "input.promptId"),
        ),
        (
            {
                "raceId": "race_2_20250509_1",
                "promptId": "form-weights-v1.0",
                "confidenceThreshold": 101,
            },
            ("BAD_USER_INPUT", "input.confidenceThreshold"),
        ),
    ],
)
async def test_bad_prediction_input(
    gql_session: AsyncClientSession,
    jeju_day: str,
    input_: dict[str, Any],
    expected: tuple[str, str],
) -> None:
    extensions = await code_and_field(gql_session, PREDICT, input=input_)
    assert (extensions["code"], extensions["field"]) == expected


async def test_evaluate_prompt_scores_every_resulted_race(
    gql_session: AsyncClientSession, runtime: Runtime, jeju_day: str
) -> None:
    result = await gql_session.execute(
        request(
            "mutation E($input: EvaluatePromptInput!) "
            "{ evaluatePrompt(input: $input) { id status } }",
            input={
                "promptId": "form-weights-v1.0",
                "dateFrom": jeju_day,
                "dateTo": jeju_day,
                "parallelism": 3,
            },
        )
    )
    job = await wait_job(runtime, result["evaluatePrompt"]["id"], within_s=60)
    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result is not None
    evaluation_id = job.result["evaluationId"]
    found = await gql_session.execute(
        request(
            "query V($id: ID!) { node(id: $id) { ... on Evaluation { raceCount excludedCount "
            "successRate averageCorrect winHitRate metrics prompt { id } "
            "predictions(first: 100) { totalCount } } } }",
            id=f"evaluation_{evaluation_id}",
        )
    )
    evaluation = found["node"]
    races = 8  # 2025-05-09 Jeju: 8 races, race 7 run in fog without placings
    assert evaluation["raceCount"] + evaluation["excludedCount"] == races
    assert evaluation["excludedCount"] == 1
    assert evaluation["predictions"]["totalCount"] == races
    overall = evaluation["metrics"]["overall"]
    assert evaluation["successRate"] == overall["success_rate"]
    assert evaluation["winHitRate"] == overall["win_hit_rate"]
    assert 0 <= evaluation["averageCorrect"] <= 3
    assert set(evaluation["metrics"]) >= {"overall", "by_meet", "by_distance", "by_field_size"}
    assert evaluation["prompt"]["id"] == "form-weights-v1.0"


async def test_create_prompt_versions(gql_session: AsyncClientSession) -> None:
    create = """
    mutation C($input: CreatePromptInput!) { createPrompt(input: $input) {
      id version predictor parameters parent { id } } }
    """
    new = {"name": "tuned-form", "version": "v1.1", "text": "heavier recent form",
           "predictor": "FORM", "parameters": {"weights": {"recent_form": 3.0}},
           "parentId": "form-weights-v1.0"}  # fmt: skip
    created = (await gql_session.execute(request(create, input=new)))["createPrompt"]
    assert created["id"] == "tuned-form-v1.1"
    assert created["parent"] == {"id": "form-weights-v1.0"}
    assert await code_and_field(gql_session, create, input=new) == {
        "code": "BAD_USER_INPUT", "field": "input.version"}  # fmt: skip
    bad_weights = {**new, "version": "v1.2", "parameters": {"weights": {"luck": 1}}}
    assert (await code_and_field(gql_session, create, input=bad_weights))[
        "field"
    ] == "input.parameters"
    bad_name = {**new, "name": "Race_x", "version": "v1.3"}
    assert (await code_and_field(gql_session, create, input=bad_name))["field"] == "input.name"
    no_parent = {**new, "version": "v1.4", "parentId": "missing-v1"}
    assert await code_and_field(gql_session, create, input=no_parent) == {
        "code": "NOT_FOUND", "field": "input.parentId"}  # fmt: skip
