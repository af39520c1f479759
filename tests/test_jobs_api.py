"""Job mutations, queries and subscriptions through real uvicorn servers and real clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from kra_graphql.config import Settings
from tests.access_support import ws_transport
from tests.conftest import API_KEY, auth_headers, settings_env
from tests.support import Process, free_port, wait_http_ok

pytestmark = pytest.mark.usefixtures("worker_process")

PROTOCOLS = [WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL, WebsocketsTransport.APOLLO_SUBPROTOCOL]

COLLECT = """
mutation Collect($input: CollectRacesInput!) {
  collectRaces(input: $input) { id kind status progress parameters }
}
"""
PROGRESS = """
subscription Progress($id: ID!) {
  jobProgress(id: $id) {
    sequence type message
    job { id status progress totalSteps completedSteps currentStep estimatedCompletion result }
  }
}
"""


def request(document: str, **variables: Any) -> GraphQLRequest:
    return GraphQLRequest(document, variable_values=variables)


async def collect(session: AsyncClientSession, **input_: Any) -> dict[str, Any]:
    result = await session.execute(request(COLLECT, input=input_))
    job: dict[str, Any] = result["collectRaces"]
    return job


async def follow(api_url: str, job_id: str, protocol: str) -> list[dict[str, Any]]:
    async with Client(transport=ws_transport(api_url, API_KEY, protocol)) as session:
        return [
            event["jobProgress"] async for event in session.subscribe(request(PROGRESS, id=job_id))
        ]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_job_progress_streams_every_change_then_completes(
    api_url: str, gql_session: AsyncClientSession, protocol: str, replay: httpx.AsyncClient
) -> None:
    job = await collect(gql_session, date="20250104", meet=2, raceNumbers=[1, 2, 3])
    assert job["status"] == "QUEUED"
    assert job["progress"] == 0
    assert job["parameters"]["raceNumbers"] == [1, 2, 3]

    events = await asyncio.wait_for(follow(api_url, job["id"], protocol), 60)

    assert events[0]["type"] == "SNAPSHOT"
    sequences = [event["sequence"] for event in events]
    assert sequences == sorted(set(sequences))
    assert events[-1]["type"] == "STATUS"
    assert events[-1]["job"]["status"] == "COMPLETED"
    assert events[-1]["job"]["progress"] == 100
    assert events[-1]["job"]["result"]["raceIds"] == [f"race_2_20250104_{n}" for n in (1, 2, 3)]
    progress = [event["job"]["progress"] for event in events]
    assert progress == sorted(progress)
    assert any(event["type"] == "LOG" for event in events)
    steps = {event["job"]["currentStep"] for event in events}
    assert "collecting race 2" in steps


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_subscribing_after_the_end_gets_the_final_state_at_once(
    api_url: str, gql_session: AsyncClientSession, protocol: str, replay: httpx.AsyncClient
) -> None:
    job = await collect(gql_session, date="20250105", meet=1, raceNumbers=[1], enrich=False)
    await asyncio.wait_for(follow(api_url, job["id"], protocol), 60)

    events = await asyncio.wait_for(follow(api_url, job["id"], protocol), 5)
    assert len(events) == 1
    assert events[0]["type"] == "SNAPSHOT"
    assert events[0]["job"]["status"] == "COMPLETED"


async def test_job_progress_of_an_unknown_job_is_not_found(api_url: str) -> None:
    with pytest.raises(TransportQueryError) as raised:
        await follow(api_url, "job_nope", PROTOCOLS[0])
    assert (raised.value.errors or [{}])[0]["extensions"]["code"] == "NOT_FOUND"


async def test_job_events_reports_status_changes_matching_the_filter(
    api_url: str, gql_session: AsyncClientSession, replay: httpx.AsyncClient
) -> None:
    document = """
    subscription { jobEvents(filter: {kind: [RESULTS]}) { type job { id kind status } } }
    """
    transport = ws_transport(api_url, API_KEY, PROTOCOLS[0])
    seen: list[dict[str, Any]] = []

    async with Client(transport=transport) as ws:
        subscription = ws.subscribe(GraphQLRequest(document))

        async def listen() -> None:
            async for event in subscription:
                seen.append(event["jobEvents"])
                if event["jobEvents"]["job"]["status"] == "COMPLETED":
                    return

        listener = asyncio.create_task(listen())
        await asyncio.sleep(0.5)
        await collect(gql_session, date="20250110", meet=3, raceNumbers=[1], enrich=False)
        results = await gql_session.execute(
            GraphQLRequest(
                'mutation { collectResults(input: {date: "20250110", meet: 3, raceNumber: 1})'
                " { id } }"
            )
        )
        await asyncio.wait_for(listener, 60)

    job_id = results["collectResults"]["id"]
    assert {event["job"]["kind"] for event in seen} == {"RESULTS"}
    assert [e["job"]["status"] for e in seen if e["job"]["id"] == job_id] == [
        "PROCESSING",
        "COMPLETED",
    ]


async def test_jobs_and_job_queries(
    gql_session: AsyncClientSession, api_url: str, replay: httpx.AsyncClient
) -> None:
    job = await collect(gql_session, date="20250111", meet=2, raceNumbers=[1], enrich=False)
    await asyncio.wait_for(follow(api_url, job["id"], PROTOCOLS[0]), 60)
    result = await gql_session.execute(
        request(
            """
            query J($id: ID!) {
              job(id: $id) { id kind status retryCount startedAt finishedAt parent { id }
                             children { id } logs(last: 2) { level message } }
              jobs(filter: {kind: [COLLECTION], status: [COMPLETED]}, first: 100) {
                totalCount edges { node { id } }
              }
            }
            """,
            id=job["id"],
        )
    )
    detail = result["job"]
    assert detail["status"] == "COMPLETED"
    assert detail["parent"] is None
    assert detail["children"] == []
    assert len(detail["logs"]) == 2
    assert detail["logs"][-1]["message"] == "completed"
    assert job["id"] in {edge["node"]["id"] for edge in result["jobs"]["edges"]}
    assert result["jobs"]["totalCount"] >= 1


@pytest.mark.parametrize(
    ("mutation", "field", "code"),
    [
        ('collectRaces(input: {date: "20250230", meet: 1})', "input.date", "BAD_USER_INPUT"),
        ('collectRaces(input: {date: "20990101", meet: 1})', "input.date", "BAD_USER_INPUT"),
        ('collectRaces(input: {date: "soon", meet: 1})', "input.date", "BAD_USER_INPUT"),
        ('collectRaces(input: {date: "20250503", meet: 4})', "input.meet", "BAD_USER_INPUT"),
        (
            'collectRaces(input: {date: "20250503", meet: 1, raceNumbers: [1, 1]})',
            "input.raceNumbers",
            "BAD_USER_INPUT",
        ),
        (
            'collectRaces(input: {date: "20250503", meet: 1, raceNumbers: [21]})',
            "input.raceNumbers",
            "BAD_USER_INPUT",
        ),
        (
            'collectRaces(input: {date: "20250503", meet: 1, raceNumbers: []})',
            "input.raceNumbers",
            "BAD_USER_INPUT",
        ),
        ('enrichRaces(input: {raceIds: ["race_1_20990101_1"]})', "input.raceIds", "NOT_FOUND"),
        ("enrichRaces(input: {raceIds: []})", "input.raceIds", "BAD_USER_INPUT"),
        (
            'collectResults(input: {date: "20250503", meet: 2, raceNumber: 0})',
            "input.raceNumber",
            "BAD_USER_INPUT",
        ),
        ('cancelJob(id: "job_unknown")', "id", "NOT_FOUND"),
        ('retryJob(id: "job_unknown")', "id", "NOT_FOUND"),
    ],
)
async def test_bad_mutation_input_gets_a_typed_error_and_creates_nothing(
    gql_session: AsyncClientSession, mutation: str, field: str, code: str
) -> None:
    count = "{ jobs(first: 1) { totalCount } }"
    before = (await gql_session.execute(GraphQLRequest(count)))["jobs"]["totalCount"]
    with pytest.raises(TransportQueryError) as raised:
        await gql_session.execute(GraphQLRequest(f"mutation {{ {mutation} {{ id }} }}"))
    errors = raised.value.errors or []
    assert [error["extensions"] for error in errors] == [{"code": code, "field": field}]
    after = (await gql_session.execute(GraphQLRequest(count)))["jobs"]["totalCount"]
    assert after == before


@pytest.fixture
def second_api(settings: Settings, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    process = Process(["serve", "--port", str(port)], settings_env(settings), tmp_path / "b.log")
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/health", process=process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


async def test_events_reach_subscribers_on_every_api_process(
    api_url: str, second_api: str, gql_session: AsyncClientSession, replay: httpx.AsyncClient
) -> None:
    job = await collect(gql_session, date="20250112", meet=1, raceNumbers=[1, 2], enrich=False)
    on_a, on_b = await asyncio.wait_for(
        asyncio.gather(
            follow(api_url, job["id"], PROTOCOLS[0]),
            follow(second_api, job["id"], PROTOCOLS[1]),
        ),
        60,
    )
    assert on_a[-1]["job"]["status"] == on_b[-1]["job"]["status"] == "COMPLETED"


async def _subscriptions(url: str) -> int:
    async with httpx.AsyncClient() as client:
        body = (
            await client.post(
                f"{url}/graphql",
                json={"query": "{ health { activeSubscriptions } }"},
                headers=auth_headers(),
            )
        ).json()
    count: int = body["data"]["health"]["activeSubscriptions"]
    return count


@pytest.fixture
async def quiet_job(
    gql_session: AsyncClientSession, replay: httpx.AsyncClient
) -> AsyncIterator[str]:
    """A job that stays queued: it is cancelled before any worker can finish it."""
    await replay.post("/_admin/latency", json={"ms": 300})
    job = await collect(gql_session, date="20250503", meet=1)
    yield job["id"]
    await gql_session.execute(
        request("mutation C($id: ID!) { cancelJob(id: $id) { id } }", id=job["id"])
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_disconnect_leaves_no_subscription_behind(
    second_api: str, quiet_job: str, protocol: str
) -> None:
    before = await _subscriptions(second_api)
    transport = ws_transport(second_api, API_KEY, protocol)
    async with Client(transport=transport) as ws:
        stream = ws.subscribe(request(PROGRESS, id=quiet_job))
        first = await anext(stream)
        assert first["jobProgress"]["type"] == "SNAPSHOT"
        assert await _subscriptions(second_api) == before + 1
    # The client closed the socket mid-stream.
    for _ in range(50):
        if await _subscriptions(second_api) == before:
            break
        await asyncio.sleep(0.1)
    assert await _subscriptions(second_api) == before
