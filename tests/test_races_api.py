"""`races` and `race` through a real uvicorn server and a real GraphQL client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from gql import GraphQLRequest, gql
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportQueryError

from kra_graphql.runtime import Runtime
from tests.factories import Seeded, remove, seed_races, unused_day

RACES = gql(
    """
    query Races($filter: RaceFilter, $first: Int!, $after: String) {
      races(filter: $filter, first: $first, after: $after) {
        totalCount
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        edges { cursor node { id date meet raceNumber distance collectionStatus } }
      }
    }
    """
)


@pytest.fixture
async def three_days(runtime: Runtime) -> AsyncIterator[Seeded]:
    days = [unused_day() for _ in range(3)]
    seeded = await seed_races(runtime, days=days, meets=(1, 3), races_per_meet=2)
    yield seeded
    await remove(runtime, seeded)


def _span(seeded: Seeded) -> dict[str, str]:
    days = sorted(race.race_date for race in seeded.races)
    return {"dateFrom": days[0].isoformat(), "dateTo": f"{days[-1]:%Y%m%d}"}


async def _all_pages(
    session: AsyncClientSession, filter_: dict[str, Any], first: int
) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        page = (
            await session.execute(
                GraphQLRequest(
                    RACES, variable_values={"filter": filter_, "first": first, "after": after}
                )
            )
        )["races"]
        nodes += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


async def test_pages_walk_every_race_once_newest_day_first(
    gql_session: AsyncClientSession, three_days: Seeded
) -> None:
    nodes = await _all_pages(gql_session, _span(three_days), first=5)

    expected = sorted(
        three_days.races, key=lambda r: (-r.race_date.toordinal(), r.meet, r.race_number)
    )
    assert [node["id"] for node in nodes] == [race.id for race in expected]
    assert len(nodes) == 12


async def test_first_page_reports_total_and_cursors(
    gql_session: AsyncClientSession, three_days: Seeded
) -> None:
    result = await gql_session.execute(
        GraphQLRequest(RACES, variable_values={"filter": _span(three_days), "first": 5})
    )
    page = result["races"]
    assert page["totalCount"] == 12
    assert len(page["edges"]) == 5
    assert page["pageInfo"]["hasNextPage"] is True
    assert page["pageInfo"]["hasPreviousPage"] is False
    assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
    assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]


async def test_filter_by_day_and_meet(gql_session: AsyncClientSession, three_days: Seeded) -> None:
    day = three_days.races[0].race_date
    result = await gql_session.execute(
        GraphQLRequest(
            RACES, variable_values={"filter": {"date": f"{day:%Y%m%d}", "meet": 3}, "first": 20}
        )
    )
    nodes = [edge["node"] for edge in result["races"]["edges"]]
    assert [(n["date"], n["meet"], n["raceNumber"]) for n in nodes] == [
        (f"{day:%Y%m%d}", 3, 1),
        (f"{day:%Y%m%d}", 3, 2),
    ]
    assert result["races"]["totalCount"] == 2


async def test_race_by_id_with_entries_in_gate_order(
    gql_session: AsyncClientSession, three_days: Seeded
) -> None:
    race = three_days.races[0]
    result = await gql_session.execute(
        GraphQLRequest(
            """
            query One($id: ID!) {
              race(id: $id) {
                id date meet raceNumber name distance
                entries { id gateNumber carriedWeight horse { id horseNo name }
                          jockey { jockeyNo name } trainer { trainerNo name } }
              }
            }
            """,
            variable_values={"id": race.id},
        )
    )
    body = result["race"]
    assert body["id"] == race.id
    assert body["distance"] == race.distance
    assert [entry["gateNumber"] for entry in body["entries"]] == [1, 2, 3]
    assert all(entry["horse"]["name"].startswith("말") for entry in body["entries"])
    assert all(entry["jockey"]["name"].startswith("기수") for entry in body["entries"])
    assert body["entries"][0]["id"] == f"entry_{race.id.removeprefix('race_')}_1"


async def test_unknown_race_is_null(gql_session: AsyncClientSession) -> None:
    result = await gql_session.execute(gql('query { race(id: "race_1_20990101_1") { id } }'))
    assert result == {"race": None}


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"first": 0}, "first"),
        ({"first": 101}, "first"),
        ({"first": 5, "after": "not-a-cursor"}, "after"),
        ({"first": 5, "filter": {"date": "20250230"}}, "filter.date"),
        ({"first": 5, "filter": {"date": "yesterday"}}, "filter.date"),
        ({"first": 5, "filter": {"meet": 4}}, "filter.meet"),
        ({"first": 5, "filter": {"dateFrom": "20250510", "dateTo": "20250501"}}, "filter.dateFrom"),
        ({"first": 5, "filter": {"date": "20250501", "dateTo": "20250502"}}, "filter.date"),
    ],
)
async def test_bad_input_gets_a_typed_error_naming_the_field(
    gql_session: AsyncClientSession, variables: dict[str, Any], field: str
) -> None:
    with pytest.raises(TransportQueryError) as raised:
        await gql_session.execute(GraphQLRequest(RACES, variable_values=variables))
    errors = raised.value.errors or []
    assert len(errors) == 1
    assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert "Traceback" not in errors[0]["message"]


async def test_invalid_query_is_bad_user_input(gql_session: AsyncClientSession) -> None:
    with pytest.raises(TransportQueryError) as raised:
        await gql_session.execute(gql("query { races { noSuchField } }"))
    errors = raised.value.errors or []
    assert errors
    assert {error["extensions"]["code"] for error in errors} == {"BAD_USER_INPUT"}
