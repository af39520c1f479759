"""A JSON POST the guard decoded is executed by our view directly: same answers as
Strawberry's view, and the body is not read a second time."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import httpx
import orjson
import pytest
from starlette.types import Message

from kra_graphql.access.keys import anonymous
from kra_graphql.graphql.context import ApiServices
from kra_graphql.graphql.guard import POSTED
from kra_graphql.graphql.view import create_view
from kra_graphql.runtime import Runtime
from tests.conftest import auth_headers

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
    services = ApiServices(runtime=runtime, queue=cast(Any, None), jobs=cast(Any, None),
                           hub=cast(Any, None), predictors=cast(Any, None))  # fmt: skip
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/graphql",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "app": SimpleNamespace(state=SimpleNamespace(services=services)),
        "state": {
            "principal": anonymous(read=True),
            POSTED: {"query": "query Q { __typename }", "operationName": "Q"},
        },
    }
    sent: list[Message] = []

    async def receive() -> Message:
        raise AssertionError("the body was read again")

    async def send(message: Message) -> None:
        sent.append(message)

    view = create_view(graphiql=False, allowed_origins=[])
    await view(scope, receive, send)

    assert sent[0]["status"] == 200
    assert orjson.loads(sent[1]["body"]) == {"data": {"__typename": "Query"}}
