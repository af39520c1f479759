"""A JSON POST the guard decoded is executed by our view directly: same answers as
Strawberry's view, and the body is not read a second time."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
import orjson
import pytest
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from starlette.types import Message

from kra_graphql.access.keys import anonymous
from kra_graphql.graphql.document import operation_of
from kra_graphql.graphql.fastpath import ON
from kra_graphql.graphql.request import OperationRequest
from kra_graphql.graphql.schema import schema_for
from kra_graphql.graphql.view import create_view
from kra_graphql.runtime import Runtime
from tests.access_support import ws_transport
from tests.conftest import API_KEY, auth_headers
from tests.support import runtime_only_services

TWO_OPERATIONS = "query A { __typename } query B { jobs(first: 1) { totalCount } }"

# Never cached (jobs), a validation error, a variable that does not coerce, an unknown
# operation name: each answered by both views.
QUERIES: list[dict[str, Any]] = [
    {"query": "{ jobs(first: 1) { totalCount } }"},
    {"query": "{ jobs(first: 1) { nope } }"},
    {
        "query": "query J($s: [JobStatus!]) { jobs(first: 1, filter: {statuses: $s}) "
        "{ totalCount } }",
        "variables": {"s": ["NOT_A_STATUS"]},
    },
    {"query": "query A { jobs(first: 1) { totalCount } }", "operationName": "B"},
]


@pytest.mark.parametrize("request_body", QUERIES)
async def test_a_posted_query_gets_the_answer_strawberrys_view_gives(
    api_url: str, request_body: dict[str, Any]
) -> None:
    """GET is always answered by Strawberry's view, a JSON POST by ours."""
    params = {
        key: orjson.dumps(value).decode() if isinstance(value, dict) else value
        for key, value in request_body.items()
    }
    async with httpx.AsyncClient(base_url=api_url, headers=auth_headers()) as client:
        posted = await client.post("/graphql", json=request_body)
        got = await client.get("/graphql", params=params)
    assert posted.status_code == got.status_code
    assert posted.headers["content-type"] == got.headers["content-type"]
    assert posted.content == got.content


async def test_the_view_answers_a_decoded_body_without_reading_it_again(
    runtime: Runtime,
) -> None:
    services = runtime_only_services(runtime)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/graphql",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "app": SimpleNamespace(state=SimpleNamespace(services=services)),
    }
    posted = {"query": "query Q { __typename }", "operationName": "Q"}
    operation = operation_of(posted["query"], "Q", 2000)
    OperationRequest(b"", posted, posted["query"], "Q", operation, anonymous(read=True)).keep(scope)
    sent: list[Message] = []

    async def receive() -> Message:
        raise AssertionError("the body was read again")

    async def send(message: Message) -> None:
        sent.append(message)

    view = create_view(schema_for(ON), graphiql=False, allowed_origins=[])
    await view(scope, receive, send)

    assert sent[0]["status"] == 200
    assert orjson.loads(sent[1]["body"]) == {"data": {"__typename": "Query"}}


async def answers(api_url: str, request_body: dict[str, Any]) -> list[dict[str, Any]]:
    """The answer to a JSON POST (our view) and to the same GET (Strawberry's)."""
    async with httpx.AsyncClient(base_url=api_url, headers=auth_headers()) as client:
        posted = await client.post("/graphql", json=request_body)
        got = await client.get("/graphql", params=request_body)
    return [posted.json(), got.json()]


async def test_several_operations_need_the_name_of_the_one_to_run(api_url: str) -> None:
    for answer in await answers(api_url, {"query": TWO_OPERATIONS}):
        assert answer["data"] is None
        [error] = answer["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "operationName"}
    for answer in await answers(api_url, {"query": TWO_OPERATIONS, "operationName": "A"}):
        assert answer == {"data": {"__typename": "Query"}}


async def test_several_unnamed_operations_are_refused_over_websocket_too(api_url: str) -> None:
    async with Client(transport=ws_transport(api_url, API_KEY)) as session:
        with pytest.raises(TransportQueryError) as refused:
            await session.execute(GraphQLRequest(TWO_OPERATIONS))
        named = await session.execute(GraphQLRequest(TWO_OPERATIONS, operation_name="A"))
    assert refused.value.errors is not None
    assert refused.value.errors[0]["extensions"]["field"] == "operationName"
    assert named == {"__typename": "Query"}


async def test_a_subscription_over_http_says_where_subscriptions_are_served(
    api_url: str,
) -> None:
    for answer in await answers(api_url, {"query": "subscription { jobEvents { sequence } }"}):
        assert answer["data"] is None
        [error] = answer["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "query"}
        assert "WebSocket" in error["message"]
