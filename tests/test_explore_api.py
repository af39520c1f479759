"""Exploring collected data: results, horses, jockeys, trainers, node(id), race filters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from gql import GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportQueryError
from sqlalchemy.ext.asyncio import AsyncEngine

from kra_graphql.collection.params import CollectParams
from kra_graphql.graphql.context import ApiServices, Context
from kra_graphql.jobs.hub import JobEventHub
from kra_graphql.jobs.models import JobKind, JobStatus
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.jobs.service import JobSubmitter
from kra_graphql.prediction.service import Predictors
from kra_graphql.races.dates import parse_race_date
from kra_graphql.runtime import Runtime
from tests.factories import Seeded, remove, seed_races, unused_day
from tests.jobs_support import run_to_end
from tests.statements import counting_statements
from tests.support import configured_schema

schema = configured_schema()


def request(document: str, **variables: Any) -> GraphQLRequest:
    return GraphQLRequest(document, variable_values=variables)


@pytest.fixture(scope="module")
async def seoul_day(
    runtime: Runtime, job_queue: JobQueue, worker_process: object, replay_url: str
) -> str:
    """2025-05-18 Seoul: dead heats in races 3 and 4."""
    async with httpx.AsyncClient(base_url=replay_url) as replay:
        await replay.post("/_admin/reset")
    params = CollectParams(race_date=parse_race_date("20250518", field="d"), meet=1)
    job = await run_to_end(runtime, job_queue, JobKind.COLLECTION, params.to_json())
    assert job.status == JobStatus.COMPLETED, job.error
    return "20250518"


async def test_result_lists_finishing_order_with_dead_heats(
    gql_session: AsyncClientSession, seoul_day: str
) -> None:
    result = await gql_session.execute(
        request(
            """
            query R($id: ID!) { race(id: $id) { resultStatus qualityScore qualityWarnings
              result { gateNumber finishPosition finishTime }
              entries { gateNumber scratched finishCode race { id } } } }
            """,
            id="race_1_20250518_4",
        )
    )
    race = result["race"]
    assert race["resultStatus"] == "RESULTED"
    assert [entry["finishPosition"] for entry in race["result"]][:4] == [1, 2, 2, 4]
    assert {entry["race"]["id"] for entry in race["entries"]} == {"race_1_20250518_4"}


async def test_horse_search_and_history(gql_session: AsyncClientSession, seoul_day: str) -> None:
    race = await gql_session.execute(
        request(
            "query R($id: ID!) { race(id: $id) { entries { horse { horseNo name } } } }",
            id="race_1_20250518_1",
        )
    )
    horse = race["race"]["entries"][0]["horse"]
    part = horse["name"][1:3]
    found = await gql_session.execute(
        request(
            "query H($name: String!) { horses(filter: {name: $name}, first: 100) "
            "{ totalCount edges { node { horseNo name } } } }",
            name=part,
        )
    )
    names = [edge["node"]["name"] for edge in found["horses"]["edges"]]
    assert horse["horseNo"] in {edge["node"]["horseNo"] for edge in found["horses"]["edges"]}
    assert all(part in name for name in names)
    assert found["horses"]["totalCount"] == len(names)

    detail = await gql_session.execute(
        request(
            """
            query D($no: String!) {
              horse(horseNo: $no) { id name career { startsTotal winRate }
                entries(first: 5) {
                  totalCount edges { node { race { id date } finishPosition } } } } }
            """,
            no=horse["horseNo"],
        )
    )
    history = detail["horse"]["entries"]
    assert detail["horse"]["id"] == f"horse_{horse['horseNo']}"
    assert history["totalCount"] >= 1
    dates = [edge["node"]["race"]["date"] for edge in history["edges"]]
    assert dates == sorted(dates, reverse=True)
    assert "race_1_20250518_1" in {edge["node"]["race"]["id"] for edge in history["edges"]}


async def test_jockey_and_trainer_rides_page_through(
    gql_session: AsyncClientSession, seoul_day: str
) -> None:
    race = await gql_session.execute(
        request(
            "query R($id: ID!) { race(id: $id) "
            "{ entries { jockey { jockeyNo } trainer { trainerNo } } } }",
            id="race_1_20250518_2",
        )
    )
    jockey_no = race["race"]["entries"][0]["jockey"]["jockeyNo"]
    document = """
    query J($no: String!, $after: String) { jockey(jockeyNo: $no) {
      entries(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor }
        edges { node { id } } } } }
    """
    seen: list[str] = []
    after = None
    while True:
        page = (await gql_session.execute(request(document, no=jockey_no, after=after)))["jockey"][
            "entries"
        ]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == page["totalCount"]
    trainer_no = race["race"]["entries"][0]["trainer"]["trainerNo"]
    trainer = await gql_session.execute(
        request(
            "query T($no: String!) { trainer(trainerNo: $no) { name entries { totalCount } } }",
            no=trainer_no,
        )
    )
    assert trainer["trainer"]["entries"]["totalCount"] >= 1


@pytest.mark.parametrize(
    ("node_id", "typename"),
    [
        ("race_1_20250518_4", "Race"),
        ("entry_1_20250518_4_1", "Entry"),
        ("race_1_20990101_1", None),
        ("entry_1_20250518_4_99", None),
        ("nothing_here", None),
        ("base-prompt-v9.9", None),
    ],
)
async def test_node_resolves_any_id(
    gql_session: AsyncClientSession, seoul_day: str, node_id: str, typename: str | None
) -> None:
    result = await gql_session.execute(
        request("query N($id: ID!) { node(id: $id) { __typename id } }", id=node_id)
    )
    if typename is None:
        assert result["node"] is None
    else:
        assert result["node"] == {"__typename": typename, "id": node_id}


async def test_node_round_trips_people_and_jobs(
    gql_session: AsyncClientSession, seoul_day: str
) -> None:
    race = await gql_session.execute(
        request(
            "query R($id: ID!) { race(id: $id) { entries { id horse { id } jockey { id } "
            "trainer { id } } } }",
            id="race_1_20250518_1",
        )
    )
    jobs = await gql_session.execute(request("{ jobs(first: 1) { edges { node { id } } } }"))
    entry = race["race"]["entries"][0]
    ids = [entry["id"], entry["horse"]["id"], entry["jockey"]["id"], entry["trainer"]["id"]]
    ids.append(jobs["jobs"]["edges"][0]["node"]["id"])
    for node_id in ids:
        found = await gql_session.execute(
            request("query N($id: ID!) { node(id: $id) { id } }", id=node_id)
        )
        assert found["node"] == {"id": node_id}


async def test_race_filters(gql_session: AsyncClientSession, seoul_day: str) -> None:
    document = """
    query F($filter: RaceFilter!) { races(filter: $filter, first: 100) {
      totalCount edges { node { distance raceClass resultStatus } } } }
    """
    base = {"date": seoul_day, "meet": 1}
    every = (await gql_session.execute(request(document, filter=base)))["races"]
    long = (await gql_session.execute(request(document, filter={**base, "distanceMin": 1400})))[
        "races"
    ]
    resulted = (
        await gql_session.execute(request(document, filter={**base, "resultStatus": "RESULTED"}))
    )["races"]
    race_class = every["edges"][0]["node"]["raceClass"]
    by_class = (
        await gql_session.execute(request(document, filter={**base, "raceClass": race_class}))
    )["races"]

    assert every["totalCount"] == 11
    assert long["totalCount"] == sum(1 for e in every["edges"] if e["node"]["distance"] >= 1400)
    assert resulted["totalCount"] == 11
    assert 1 <= by_class["totalCount"] <= 11
    assert {e["node"]["raceClass"] for e in by_class["edges"]} == {race_class}
    with pytest.raises(TransportQueryError) as raised:
        await gql_session.execute(request(document, filter={**base, "resultStatus": "DONE"}))
    assert (raised.value.errors or [{}])[0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "filter.resultStatus",
    }


# --- SQL statements do not grow with page size or nesting width -----------------------------


@pytest.fixture
async def many_races(runtime: Runtime) -> AsyncIterator[Seeded]:
    days = [unused_day() for _ in range(4)]
    seeded = await seed_races(runtime, days=days, meets=(1, 2, 3), races_per_meet=3, runners=6)
    yield seeded
    await remove(runtime, seeded)


async def _statements(
    runtime: Runtime, job_queue: JobQueue, engine: AsyncEngine, query: str, **variables: Any
) -> int:
    services = ApiServices(
        runtime=runtime,
        queue=job_queue,
        jobs=JobSubmitter(runtime, job_queue),
        hub=JobEventHub(runtime.redis, "x:"),
        predictors=Predictors(runtime.settings, httpx.AsyncClient()),
    )
    with counting_statements(runtime.engine) as count:
        result = await schema.execute(
            query, variable_values=variables, context_value=Context(services)
        )
    assert result.errors is None, result.errors
    return count.value


async def test_statement_count_is_independent_of_page_size_and_nesting(
    runtime: Runtime, job_queue: JobQueue, engine: AsyncEngine, many_races: Seeded
) -> None:
    days = sorted(race.race_date for race in many_races.races)
    window = {"dateFrom": days[0].isoformat(), "dateTo": days[-1].isoformat()}
    narrow = """
    query Q($f: RaceFilter, $n: Int!) { races(filter: $f, first: $n) { totalCount
      edges { node { id entries { gateNumber horse { name } } } } } }
    """
    wide = """
    query Q($f: RaceFilter, $n: Int!) { races(filter: $f, first: $n) { totalCount
      edges { node { id result { gateNumber } predictions { id }
        entries { gateNumber race { id } horse { name career { startsTotal } }
                  jockey { name } trainer { name } } } } } }
    """
    small = await _statements(runtime, job_queue, engine, narrow, f=window, n=2)
    large = await _statements(runtime, job_queue, engine, narrow, f=window, n=36)
    wide_small = await _statements(runtime, job_queue, engine, wide, f=window, n=2)
    wide_large = await _statements(runtime, job_queue, engine, wide, f=window, n=36)

    assert small == large
    assert wide_small == wide_large
    # Races, count, and entries joined to the people asked for; the wide query adds the
    # entries of `result` (no people), the races of the entries and the predictions.
    assert large == 3
    assert wide_large == 6
