"""Webhooks end to end: a real API server and worker (subprocesses) tell a real receiver
(a Starlette app under uvicorn on loopback, in this process) of job ends.

Signed bodies, tries recorded and retried, refusals of URLs that point inside the
server's network, deliveries that never hold up or fail their job, admin only."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kra_graphql.access.keys import Scope
from kra_graphql.config import Environment, Settings
from kra_graphql.db import utcnow
from kra_graphql.jobs.models import JobKind, JobStatus
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.jobs.service import submit_job
from kra_graphql.runtime import Runtime
from kra_graphql.webhooks.delivery import deliver, post
from kra_graphql.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery
from kra_graphql.webhooks.urls import Target
from tests.access_support import codes, new_key
from tests.access_support import post as post_graphql
from tests.conftest import API_KEY, api_server, auth_headers, settings_env
from tests.jobs_support import wait_job
from tests.support import Process, free_port

T = TypeVar("T")
# Short waits between tries, so six tries take about a second and a half.
DELAYS = "0.3,0.3,0.3,0.3,0.3"

CREATE = """
mutation Create($input: CreateWebhookInput!) {
  createWebhook(input: $input) { secret webhook { id url events kinds createdBy } }
}
"""
DELIVERIES = """
query Deliveries($id: ID!, $first: Int!, $after: String) {
  webhookDeliveries(webhookId: $id, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id event jobId status deliveredAt
      attempts { attempt statusCode error durationMs at }
    } }
  }
}
"""
COLLECT = """
mutation { collectRaces(input: {date: "20240102", meet: 1, enrich: false, withResults: false}) {
  id } }
"""


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class Receiver:
    """Records every POST; answers each path from its script (then 200)."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    scripts: dict[str, list[int]] = field(default_factory=dict)

    async def hook(self, request: Request) -> Response:
        self.received.append(
            Received(request.url.path, dict(request.headers), await request.body())
        )
        script = self.scripts.get(request.url.path)
        return Response(status_code=script.pop(0) if script else 200)

    def for_job(self, job_id: str) -> list[Received]:
        return [r for r in self.received if r.payload["job"]["id"] == job_id]


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = Starlette(routes=[Route("/{path:path}", found.hook, methods=["POST"])])
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    serving = asyncio.ensure_future(server.serve())
    await until(lambda: _started(server))
    found.url = f"http://127.0.0.1:{port}"
    try:
        yield found
    finally:
        server.should_exit = True
        await serving


async def _started(server: uvicorn.Server) -> bool:
    return server.started


def webhook_env(settings: Settings, queue_name: str) -> dict[str, str]:
    return {
        **settings_env(settings),
        "ARQ_QUEUE_NAME": queue_name,
        "WEBHOOK_RETRY_DELAYS_S": DELAYS,
        "WEBHOOK_TIMEOUT_S": "2",
    }


@pytest.fixture(scope="module")
def queue_name(settings: Settings) -> str:
    """A queue only this module's worker drains."""
    return f"{settings.redis_prefix}queue-webhooks-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def server(
    settings: Settings, queue_name: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A development-mode API (loopback receivers allowed) with its own worker."""
    logs = tmp_path_factory.mktemp("webhooks")
    env = webhook_env(settings, queue_name)
    worker = Process(["worker"], env, logs / "worker.log")
    try:
        worker.wait_for_output("worker.started")
        overrides = {k: v for k, v in env.items() if k.startswith(("ARQ_", "WEBHOOK_"))}
        with api_server(settings, logs / "api.log", **overrides) as (url, _):
            yield url
    finally:
        worker.stop()


@pytest.fixture
async def client(server: str) -> AsyncIterator[AsyncClientSession]:
    transport = HTTPXAsyncTransport(url=f"{server}/graphql", timeout=30, headers=auth_headers())
    async with Client(transport=transport, execute_timeout=30) as session:
        yield session


@pytest.fixture
async def hooks(client: AsyncClientSession) -> AsyncIterator[list[str]]:
    """Webhooks a test creates; deleted afterwards, so no other test's jobs reach them."""
    made: list[str] = []
    yield made
    for webhook_id in made:
        await client.execute(
            GraphQLRequest(
                "mutation($id: ID!) { deleteWebhook(id: $id) { id } }",
                variable_values={"id": webhook_id},
            )
        )


async def create(
    client: AsyncClientSession, hooks: list[str], url: str, events: list[str], **more: Any
) -> dict[str, Any]:
    request = GraphQLRequest(
        CREATE, variable_values={"input": {"url": url, "events": events, **more}}
    )
    created: dict[str, Any] = (await client.execute(request))["createWebhook"]
    hooks.append(created["webhook"]["id"])
    return created


async def deliveries(client: AsyncClientSession, webhook_id: str) -> list[dict[str, Any]]:
    """Every delivery of a webhook, page by page (two a page, so paging is exercised)."""
    found: list[dict[str, Any]] = []
    after = None
    while True:
        request = GraphQLRequest(
            DELIVERIES, variable_values={"id": webhook_id, "first": 2, "after": after}
        )
        page = (await client.execute(request))["webhookDeliveries"]
        found.extend(edge["node"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            assert page["totalCount"] == len(found)
            return found
        after = page["pageInfo"]["endCursor"]


async def until(check: Callable[[], Awaitable[T]], within_s: float = 60) -> T:
    """The first truthy answer of `check`; a guard against hanging, not a timing."""
    deadline = time.monotonic() + within_s
    while True:
        answer = await check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise TimeoutError(f"still {answer!r} after {within_s} s")
        await asyncio.sleep(0.1)


async def collect(client: AsyncClientSession, runtime: Runtime) -> dict[str, Any]:
    """A collection job through the API, run to its end by the module's worker."""
    job_id = (await client.execute(GraphQLRequest(COLLECT)))["collectRaces"]["id"]
    job = await wait_job(runtime, job_id)
    return {"id": job.id, "status": job.status, "finished_at": job.finished_at}


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    """As a receiver computes it, written out here rather than borrowed from the server."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


async def test_a_job_end_is_posted_signed_with_the_secret_shown_once(
    client: AsyncClientSession, hooks: list[str], receiver: Receiver, runtime: Runtime
) -> None:
    created = await create(
        client, hooks, f"{receiver.url}/signed", ["JOB_COMPLETED", "JOB_PARTIAL"],
        kinds=["COLLECTION"],
    )  # fmt: skip
    # Neither of these wants this job: another event, another kind.
    other_event = await create(client, hooks, f"{receiver.url}/other-event", ["JOB_FAILED"])
    other_kind = await create(
        client, hooks, f"{receiver.url}/other-kind", ["JOB_COMPLETED"], kinds=["EVALUATION"]
    )
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(secret) > 30
    assert created["webhook"]["kinds"] == ["COLLECTION"]
    assert created["webhook"]["createdBy"] == "tests"

    job = await collect(client, runtime)
    assert job["status"] == JobStatus.COMPLETED
    [sent] = await until(lambda: _received(receiver, job["id"]))

    assert sent.path == "/signed"
    timestamp = sent.headers["x-kra-timestamp"]
    assert sent.headers["x-kra-signature"] == expected_signature(secret, timestamp, sent.body)
    assert sent.headers["x-kra-signature"] != expected_signature(
        "whsec_wrong", timestamp, sent.body
    )
    body = sent.payload
    assert body["event"] == "JOB_COMPLETED"
    assert body["timestamp"] == int(timestamp)
    assert body["job"]["id"] == job["id"]
    assert body["job"]["kind"] == "COLLECTION"
    assert body["job"]["status"] == "COMPLETED"
    assert body["job"]["progress"] == 100
    assert body["job"]["requestedBy"] == "tests"
    assert body["job"]["error"] is None
    assert "failures" in body["job"]["result"]
    assert body["job"]["finishedAt"] == job["finished_at"].isoformat()

    [delivery] = await until(lambda: _delivered(client, created["webhook"]["id"]))
    assert delivery["id"] == body["deliveryId"] == sent.headers["x-kra-delivery"]
    assert delivery["jobId"] == job["id"]
    assert [a["statusCode"] for a in delivery["attempts"]] == [200]
    assert delivery["attempts"][0]["error"] is None
    assert await deliveries(client, other_event["webhook"]["id"]) == []
    assert await deliveries(client, other_kind["webhook"]["id"]) == []

    # The secret is never read back: the type has no such field.
    listed = await client.execute(GraphQLRequest("{ webhooks { id url events kinds } }"))
    assert created["webhook"]["id"] in [hook["id"] for hook in listed["webhooks"]]
    assert secret not in json.dumps(listed)
    with pytest.raises(TransportQueryError, match="secret"):
        await client.execute(GraphQLRequest("{ webhooks { id secret } }"))


async def _received(receiver: Receiver, job_id: str) -> list[Received]:
    return receiver.for_job(job_id)


async def _delivered(client: AsyncClientSession, webhook_id: str) -> list[dict[str, Any]]:
    found = await deliveries(client, webhook_id)
    return found if found and all(d["status"] != "PENDING" for d in found) else []


async def test_a_receiver_answering_500_twice_gets_a_third_try_all_recorded(
    client: AsyncClientSession, hooks: list[str], receiver: Receiver, runtime: Runtime
) -> None:
    receiver.scripts["/flaky"] = [500, 500]
    created = await create(client, hooks, f"{receiver.url}/flaky", ["JOB_COMPLETED"])

    job = await collect(client, runtime)
    [delivery] = await until(lambda: _delivered(client, created["webhook"]["id"]))

    assert delivery["status"] == "DELIVERED"
    assert delivery["deliveredAt"] is not None
    tries = delivery["attempts"]
    assert [a["attempt"] for a in tries] == [1, 2, 3]
    assert [a["statusCode"] for a in tries] == [500, 500, 200]
    assert [a["error"] for a in tries] == ["answered HTTP 500", "answered HTTP 500", None]
    assert all(a["durationMs"] >= 0 for a in tries)
    assert _at(tries[0]) < _at(tries[1]) < _at(tries[2])
    sent = receiver.for_job(job["id"])
    assert len(sent) == 3
    # One delivery, tried three times: receivers dedupe on its id.
    assert {r.payload["deliveryId"] for r in sent} == {delivery["id"]}
    for each in sent:
        timestamp = each.headers["x-kra-timestamp"]
        assert each.headers["x-kra-signature"] == expected_signature(
            created["secret"], timestamp, each.body
        )


async def test_a_receiver_that_is_down_neither_fails_nor_holds_the_job(
    client: AsyncClientSession, hooks: list[str], runtime: Runtime
) -> None:
    down = f"http://127.0.0.1:{free_port()}/nobody-listens"
    created = await create(client, hooks, down, ["JOB_COMPLETED", "JOB_FAILED"])
    jobs_before = await _job_count(client)

    job = await collect(client, runtime)
    assert job["status"] == JobStatus.COMPLETED
    [delivery] = await until(lambda: _delivered(client, created["webhook"]["id"]))

    assert delivery["status"] == "FAILED"
    tries = delivery["attempts"]
    assert [a["attempt"] for a in tries] == [1, 2, 3, 4, 5, 6]
    assert all(a["statusCode"] is None and "ConnectError" in a["error"] for a in tries)
    # The job had ended before its first try was made.
    assert _at(tries[0]) >= job["finished_at"]
    # Six tries, and the only job added is the one submitted: deliveries are not jobs.
    assert await _job_count(client) == jobs_before + 1


def _at(attempt: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(attempt["at"])


async def _job_count(client: AsyncClientSession) -> int:
    answer = await client.execute(GraphQLRequest("{ jobs { totalCount } }"))
    count: int = answer["jobs"]["totalCount"]
    return count


async def test_cancelling_a_queued_job_through_the_api_is_delivered(
    client: AsyncClientSession,
    hooks: list[str],
    receiver: Receiver,
    runtime: Runtime,
    private_queue: tuple[Settings, JobQueue],
) -> None:
    created = await create(client, hooks, f"{receiver.url}/cancelled", ["JOB_CANCELLED"])
    # On a queue nobody drains, so it is still QUEUED when the API cancels it.
    _, idle = private_queue
    job = await submit_job(runtime, idle, JobKind.COLLECTION, {"date": "x"}, requested_by="t")
    await client.execute(
        GraphQLRequest(
            "mutation($id: ID!) { cancelJob(id: $id) { id } }", variable_values={"id": job.id}
        )
    )
    [sent] = await until(lambda: _received(receiver, job.id))
    assert sent.path == "/cancelled"
    assert sent.payload["event"] == "JOB_CANCELLED"
    assert sent.payload["job"]["status"] == "CANCELLED"
    [delivery] = await until(lambda: _delivered(client, created["webhook"]["id"]))
    assert delivery["status"] == "DELIVERED"


async def test_a_try_cut_short_by_a_dead_worker_is_taken_up_by_the_sweep(
    server: str,
    client: AsyncClientSession,
    sessions: async_sessionmaker[AsyncSession],
    receiver: Receiver,
) -> None:
    """As a worker that died while sending try 1 leaves it: counted, not recorded, due
    again, and on no queue. The worker's sweep sends try 2."""
    webhook_id, delivery_id = f"webhook_{uuid.uuid4().hex}", f"delivery_{uuid.uuid4().hex}"
    async with sessions() as session, session.begin():
        await session.execute(
            insert(Webhook).values(
                id=webhook_id, url=f"{receiver.url}/swept", events=["JOB_FAILED"],
                kinds=[], secret="whsec_swept",
            )
        )  # fmt: skip
        await session.execute(
            insert(WebhookDelivery).values(
                id=delivery_id, webhook_id=webhook_id, job_id="job_swept", event="JOB_FAILED",
                job={"id": "job_swept"}, status="PENDING", attempts=1,
                next_attempt_at=utcnow() - timedelta(seconds=1),
            )
        )  # fmt: skip
    try:
        [delivery] = await until(lambda: _delivered(client, webhook_id))
    finally:
        async with sessions() as session, session.begin():
            await session.delete(await session.get(Webhook, webhook_id))
    assert delivery["status"] == "DELIVERED"
    assert [(a["attempt"], a["statusCode"]) for a in delivery["attempts"]] == [(2, 200)]
    [sent] = receiver.for_job("job_swept")
    assert sent.payload["deliveryId"] == delivery_id


async def test_urls_with_credentials_or_other_schemes_are_refused(
    client: AsyncClientSession, hooks: list[str], receiver: Receiver
) -> None:
    for url in (
        "ftp://example.org/hook",
        "file:///etc/passwd",
        "https://user:password@example.org/hook",
        "https://token@example.org/hook",
        "https:///no-host",
        "example.org/hook",
    ):
        with pytest.raises(TransportQueryError) as refused:
            await create(client, hooks, url, ["JOB_FAILED"])
        [error] = refused.value.errors or []
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.url"}, url
    with pytest.raises(TransportQueryError) as refused:
        await create(client, hooks, f"{receiver.url}/x", [])
    assert (refused.value.errors or [])[0]["extensions"]["field"] == "input.events"
    assert hooks == []
    listed = await client.execute(GraphQLRequest("{ webhooks { id } }"))
    assert listed["webhooks"] == []


@pytest.fixture(scope="module")
def production_server(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    log = tmp_path_factory.mktemp("webhooks-production") / "api.log"
    with api_server(settings, log, ENVIRONMENT="production") as (url, _):
        yield url


async def test_production_refuses_loopback_urls_unless_allowed(
    production_server: str,
    settings: Settings,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    port = receiver.url.rsplit(":", 1)[1]
    inside = [f"{receiver.url}/x", f"http://localhost:{port}/x", "http://[::1]/x"]
    inside += ["http://169.254.169.254/latest", "http://10.1.2.3/x", "http://0.0.0.0/x"]
    for url in inside:
        response = await post_graphql(
            production_server,
            CREATE,
            key=API_KEY,
            variables={"input": {"url": url, "events": ["JOB_FAILED"]}},
        )
        assert codes(response) == ["BAD_USER_INPUT"], url
        assert response.json()["errors"][0]["extensions"]["field"] == "input.url"
    response = await post_graphql(production_server, "{ webhooks { id } }", key=API_KEY)
    assert response.json()["data"]["webhooks"] == []

    # WEBHOOK_ALLOW_PRIVATE opens them again, for receivers on the server's own network.
    with api_server(
        settings, tmp_path / "api.log", ENVIRONMENT="production", WEBHOOK_ALLOW_PRIVATE="true"
    ) as (allowing, _):
        response = await post_graphql(
            allowing,
            CREATE,
            key=API_KEY,
            variables={"input": {"url": f"{receiver.url}/x", "events": ["JOB_FAILED"]}},
        )
        webhook_id = response.json()["data"]["createWebhook"]["webhook"]["id"]
        deleted = await post_graphql(
            allowing, f'mutation {{ deleteWebhook(id: "{webhook_id}") {{ id }} }}', key=API_KEY
        )
        assert deleted.json()["data"]["deleteWebhook"]["id"] == webhook_id


async def test_production_refuses_at_delivery_a_url_that_now_points_inside(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    receiver: Receiver,
    private_queue: tuple[Settings, JobQueue],
) -> None:
    """A URL accepted once (its DNS answer was public then) is checked again at each try."""
    own, _ = private_queue
    production = own.model_copy(
        update={"environment": Environment.PRODUCTION, "webhook_retry_delays_s": "60"}
    )
    webhook_id, delivery_id = f"webhook_{uuid.uuid4().hex}", f"delivery_{uuid.uuid4().hex}"
    async with sessions() as session, session.begin():
        await session.execute(
            insert(Webhook).values(
                id=webhook_id, url=f"{receiver.url}/inside", events=["JOB_FAILED"],
                kinds=[], secret="whsec_x",
            )
        )  # fmt: skip
        await session.execute(
            insert(WebhookDelivery).values(
                id=delivery_id, webhook_id=webhook_id, job_id="job_gone", event="JOB_FAILED",
                job={"id": "job_gone"}, status="PENDING", attempts=0,
                # Not due: the module's worker sweeps due deliveries, this test tries it.
                next_attempt_at=utcnow() + timedelta(hours=1),
            )
        )  # fmt: skip
    runtime = Runtime.create(production)
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            status = await deliver(runtime, http, delivery_id, 1)
            # The same try again (a duplicate on the queue) finds it made and does nothing.
            again = await deliver(runtime, http, delivery_id, 1)
    finally:
        await runtime.close()
        async with sessions() as session, session.begin():
            tries = list(
                (
                    await session.scalars(
                        select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id)  # type: ignore[arg-type]
                    )
                ).all()
            )
            await session.delete(await session.get(Webhook, webhook_id))

    assert (status, again) == ("PENDING", "SKIPPED")
    [attempt] = tries
    assert attempt.status_code is None
    assert attempt.error == "refused: host 127.0.0.1 resolves to a loopback address (127.0.0.1)"
    assert [r for r in receiver.received if r.path == "/inside"] == []


async def test_a_checked_address_is_the_one_connected_to(receiver: Receiver) -> None:
    """In production a try connects to the address it checked (not to a second DNS
    answer), naming the URL's host to the receiver."""
    port = receiver.url.rsplit(":", 1)[1]
    target = Target(
        url=f"http://receiver.invalid:{port}/pinned",
        address=ip_address("127.0.0.1"),
    )
    async with httpx.AsyncClient(timeout=2) as http:
        status = await post(http, target, b"{}", {"Content-Type": "application/json"})
    assert status == 200
    [sent] = [r for r in receiver.received if r.path == "/pinned"]
    assert sent.headers["host"] == f"receiver.invalid:{port}"


async def test_keys_without_admin_can_do_nothing_with_webhooks(
    server: str, sessions: async_sessionmaker[AsyncSession], receiver: Receiver
) -> None:
    _, key = await new_key(sessions, Scope.READ, Scope.COLLECT, Scope.PREDICT)
    for document, variables in (
        (CREATE, {"input": {"url": f"{receiver.url}/x", "events": ["JOB_FAILED"]}}),
        ("{ webhooks { id } }", {}),
        ('mutation { deleteWebhook(id: "webhook_x") { id } }', {}),
        ('{ webhookDeliveries(webhookId: "webhook_x") { totalCount } }', {}),
    ):
        response = await post_graphql(server, document, key=key, variables=variables)
        assert (response.status_code, codes(response)) == (403, ["FORBIDDEN"]), document
    response = await post_graphql(server, "{ webhooks { id } }", key=API_KEY)
    assert response.json()["data"]["webhooks"] == []


async def test_unknown_webhooks_are_not_found(client: AsyncClientSession) -> None:
    for document in (
        'mutation { deleteWebhook(id: "webhook_nope") { id } }',
        '{ webhookDeliveries(webhookId: "webhook_nope") { totalCount } }',
    ):
        with pytest.raises(TransportQueryError) as missing:
            await client.execute(GraphQLRequest(document))
        assert (missing.value.errors or [])[0]["extensions"]["code"] == "NOT_FOUND"
