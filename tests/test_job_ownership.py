"""Job ownership over HTTP and WebSocket: a key sees its own jobs and the scheduled ones,
an admin key and anonymous development reads see all, and another key's job reads as a
missing one (NOT_FOUND or null, never FORBIDDEN)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kra_graphql.access.keys import SCHEDULE, Scope
from kra_graphql.collection.params import CollectParams
from kra_graphql.jobs.models import JobKind
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.jobs.service import submit_job
from kra_graphql.races.dates import parse_race_date
from kra_graphql.runtime import Runtime
from tests.access_support import codes, new_key, post, ws_transport
from tests.conftest import API_KEY
from tests.jobs_support import wait_job

pytestmark = pytest.mark.usefixtures("worker_process")

# A day the replay server has no races for: a job on it never writes race data.
EMPTY_DAY = "20240102"
COLLECT = """
mutation C { collectRaces(input: {date: "20240102", meet: 1, enrich: false, withResults: false})
  { id requestedBy } }
"""
JOB = "query J($id: ID!) { job(id: $id) { id requestedBy } }"
NODE = "query N($id: ID!) { node(id: $id) { id ... on Job { requestedBy } } }"
JOBS = """
query L($by: String) { jobs(first: 100, filter: {requestedBy: $by}) { edges { node { id } } } }
"""
RELATIVES = "query R($id: ID!) { job(id: $id) { id parent { id } children { id } } }"
PROGRESS = "subscription P($id: ID!) { jobProgress(id: $id) { type job { id status } } }"
EVENTS = "subscription { jobEvents { type job { id status requestedBy } } }"
CANCEL = "mutation X($id: ID!) { cancelJob(id: $id) { id } }"
SCOPES = (Scope.READ, Scope.COLLECT, Scope.PREDICT)
UNFINISHED = {"QUEUED", "PROCESSING"}


async def query(api_url: str, document: str, key: str | None, **variables: Any) -> Any:
    response = await post(api_url, document, key=key, variables=variables)
    assert response.status_code == 200, response.text
    return response.json()


async def submit(api_url: str, key: str) -> str:
    answer = await query(api_url, COLLECT, key)
    job_id: str = answer["data"]["collectRaces"]["id"]
    return job_id


async def listed(api_url: str, key: str | None, by: str | None = None) -> set[str]:
    answer = await query(api_url, JOBS, key, by=by)
    return {edge["node"]["id"] for edge in answer["data"]["jobs"]["edges"]}


async def progress(api_url: str, key: str, job_id: str) -> list[dict[str, Any]]:
    async def events() -> list[dict[str, Any]]:
        async with Client(transport=ws_transport(api_url, key)) as session:
            request = GraphQLRequest(PROGRESS, variable_values={"id": job_id})
            return [event["jobProgress"] async for event in session.subscribe(request)]

    return await asyncio.wait_for(events(), 60)


@pytest.fixture
async def two_keys(
    api_url: str, sessions: async_sessionmaker[AsyncSession], runtime: Runtime
) -> dict[str, Any]:
    """Keys A and B with read and mutation scopes, one finished job each."""
    name_a, key_a = await new_key(sessions, *SCOPES)
    name_b, key_b = await new_key(sessions, *SCOPES)
    job_a, job_b = await submit(api_url, key_a), await submit(api_url, key_b)
    for job_id in (job_a, job_b):
        await wait_job(runtime, job_id)
    return {"a": (name_a, key_a, job_a), "b": (name_b, key_b, job_b)}


async def test_a_key_reads_its_own_jobs_and_never_another_keys(
    api_url: str, two_keys: dict[str, Any]
) -> None:
    name_a, key_a, job_a = two_keys["a"]
    name_b, _, job_b = two_keys["b"]

    own = await query(api_url, JOB, key_a, id=job_a)
    assert own == {"data": {"job": {"id": job_a, "requestedBy": name_a}}}
    # Another key's job reads exactly as a job that does not exist.
    for job_id in (job_b, "job_" + "0" * 32):
        assert await query(api_url, JOB, key_a, id=job_id) == {"data": {"job": None}}
        assert await query(api_url, NODE, key_a, id=job_id) == {"data": {"node": None}}
    seen = await listed(api_url, key_a)
    assert job_a in seen
    assert job_b not in seen
    assert await listed(api_url, key_a, by=name_b) == set()

    refused = await post(api_url, CANCEL, key=key_a, variables={"id": job_b})
    assert codes(refused) == ["NOT_FOUND"]


async def test_an_admin_and_anonymous_development_reads_see_every_job(
    api_url: str, two_keys: dict[str, Any]
) -> None:
    _, _, job_a = two_keys["a"]
    name_b, _, job_b = two_keys["b"]
    for key in (API_KEY, None):
        for job_id in (job_a, job_b):
            assert (await query(api_url, JOB, key, id=job_id))["data"]["job"]["id"] == job_id
            assert (await query(api_url, NODE, key, id=job_id))["data"]["node"]["id"] == job_id
        assert {job_a, job_b} <= await listed(api_url, key)
        assert job_b in await listed(api_url, key, by=name_b)


async def test_job_progress_of_another_keys_job_is_not_found(
    api_url: str, two_keys: dict[str, Any]
) -> None:
    _, key_a, job_a = two_keys["a"]
    _, key_b, job_b = two_keys["b"]

    with pytest.raises(TransportQueryError) as raised:
        await progress(api_url, key_a, job_b)
    assert (raised.value.errors or [{}])[0]["extensions"] == {"code": "NOT_FOUND", "field": "id"}

    own = await progress(api_url, key_a, job_a)
    assert [event["job"]["id"] for event in own] == [job_a]
    for key in (API_KEY, key_b):
        assert (await progress(api_url, key, job_b))[-1]["job"]["id"] == job_b


async def test_scheduled_jobs_are_everyones_and_relatives_keep_their_owners(
    api_url: str, two_keys: dict[str, Any], runtime: Runtime, job_queue: JobQueue
) -> None:
    _, key_a, job_a = two_keys["a"]
    name_b, key_b, job_b = two_keys["b"]
    params = CollectParams(race_date=parse_race_date(EMPTY_DAY, field="d"), meet=2).to_json()
    scheduled = await submit_job(runtime, job_queue, JobKind.COLLECTION, params,
                                 requested_by=SCHEDULE, parent_id=job_a)  # fmt: skip
    child_of_b = await submit_job(runtime, job_queue, JobKind.COLLECTION, params,
                                  requested_by=name_b, parent_id=job_a)  # fmt: skip
    for job_id in (scheduled.id, child_of_b.id):
        await wait_job(runtime, job_id)

    for key in (key_a, key_b):
        answer = await query(api_url, JOB, key, id=scheduled.id)
        assert answer["data"]["job"] == {"id": scheduled.id, "requestedBy": SCHEDULE}
        assert scheduled.id in await listed(api_url, key)
        assert (await progress(api_url, key, scheduled.id))[-1]["job"]["id"] == scheduled.id

    # A's job lists the scheduled child but not B's; B reads its child without A's parent.
    family_a = (await query(api_url, RELATIVES, key_a, id=job_a))["data"]["job"]
    assert [child["id"] for child in family_a["children"]] == [scheduled.id]
    family_b = (await query(api_url, RELATIVES, key_b, id=child_of_b.id))["data"]["job"]
    assert family_b == {"id": child_of_b.id, "parent": None, "children": []}
    admin = (await query(api_url, RELATIVES, API_KEY, id=job_a))["data"]["job"]
    assert {child["id"] for child in admin["children"]} == {scheduled.id, child_of_b.id}
    assert (await query(api_url, RELATIVES, API_KEY, id=child_of_b.id))["data"]["job"][
        "parent"
    ] == {"id": job_a}
    assert job_b not in await listed(api_url, key_a)


async def test_job_events_carry_only_the_jobs_a_key_sees(
    api_url: str, sessions: async_sessionmaker[AsyncSession], runtime: Runtime
) -> None:
    name_a, key_a = await new_key(sessions, *SCOPES)
    _, key_b = await new_key(sessions, *SCOPES)
    seen: list[dict[str, Any]] = []
    probe_seen = asyncio.Event()
    last_seen = asyncio.Event()
    wanted: dict[str, str] = {}

    async def listen() -> None:
        async with Client(transport=ws_transport(api_url, key_a)) as session:
            async for event in session.subscribe(GraphQLRequest(EVENTS)):
                job = event["jobEvents"]["job"]
                seen.append(job)
                if job["id"] == wanted.get("probe"):
                    probe_seen.set()
                if job["id"] == wanted.get("last") and job["status"] not in UNFINISHED:
                    last_seen.set()

    listener = asyncio.create_task(listen())
    try:
        # A job of A's own, submitted until one of its events arrives: the listener is live.
        while not probe_seen.is_set():
            wanted["probe"] = await submit(api_url, key_a)
            await wait_job(runtime, wanted["probe"])
            try:
                await asyncio.wait_for(probe_seen.wait(), 5)
            except TimeoutError:
                continue
        # B's job runs to its end while A listens, then A's last job marks the end.
        job_b = await submit(api_url, key_b)
        await wait_job(runtime, job_b)
        wanted["last"] = await submit(api_url, key_a)
        await asyncio.wait_for(last_seen.wait(), 60)
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)

    assert job_b not in {job["id"] for job in seen}
    assert {job["requestedBy"] for job in seen} == {name_a}
