"""Abuse limits through real servers: rate limits across processes, document shape, body
size, batching, introspection, CORS, and what happens while Redis is down."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kra_graphql.access.keys import Scope
from kra_graphql.config import Settings
from kra_graphql.embedded_redis import embedded_redis_server
from tests.access_support import TRANSPORT_WS, codes, new_key, post, ws_transport, ws_url
from tests.conftest import API_KEY, api_server, settings_env
from tests.support import Process, free_port, samples, wait_http_ok

BURST = 6
PROMPTS = "{ prompts { id } }"


@pytest.fixture(scope="module")
def limited_apis(
    settings: Settings, redis_keys: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """Two API processes sharing one budget: BURST requests, then one a minute.

    Their own Redis prefix keeps these budgets away from the other servers of the run.
    """
    prefix = f"{redis_keys}limited-{uuid.uuid4().hex[:6]}:"
    limits = {
        "REDIS_PREFIX": prefix,
        "RATE_LIMIT_PER_MIN": "1",
        "RATE_LIMIT_BURST": str(BURST),
        "ANONYMOUS_RATE_LIMIT_PER_MIN": "1",
        "ANONYMOUS_RATE_LIMIT_BURST": str(BURST),
        "RESPONSE_CACHE_ENABLED": "true",
    }
    logs = tmp_path_factory.mktemp("limited")
    with (
        api_server(settings, logs / "a.log", **limits) as (first, _),
        api_server(settings, logs / "b.log", **limits) as (second, _),
    ):
        yield first, second


async def _burst(urls: list[str], count: int, **kwargs: object) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=30) as client:
        return await asyncio.gather(
            *(
                client.post(f"{urls[i % len(urls)]}/graphql", json={"query": PROMPTS}, **kwargs)  # type: ignore[arg-type]
                for i in range(count)
            )
        )


async def test_one_request_over_the_budget_is_refused_across_two_processes(
    limited_apis: tuple[str, str], sessions: async_sessionmaker[AsyncSession]
) -> None:
    _, key = await new_key(sessions, Scope.READ)
    _, other = await new_key(sessions, Scope.READ)
    headers = {"Authorization": f"Bearer {key}"}
    responses = await _burst(list(limited_apis), BURST + 1, headers=headers)

    refused = [r for r in responses if r.status_code == 429]
    assert [r.status_code for r in responses].count(200) == BURST
    assert len(refused) == 1
    assert codes(refused[0]) == ["RATE_LIMITED"]
    # One a minute: the next slot opens about a minute after the first request.
    assert 1 <= int(refused[0].headers["retry-after"]) <= 60
    assert refused[0].json()["errors"][0]["extensions"]["retryAfter"] == int(
        refused[0].headers["retry-after"]
    )
    # Cached answers are no way around it, and each key has its own budget.
    again = await post(limited_apis[0], PROMPTS, key=key)
    fresh = await post(limited_apis[1], PROMPTS, key=other)
    assert again.status_code == 429
    assert fresh.status_code == 200
    rejections = 0.0
    async with httpx.AsyncClient() as client:
        for url in limited_apis:
            text = (await client.get(f"{url}/metrics")).text
            rejections += samples(text, "kra_ratelimit_rejections_total", caller="key")
    assert rejections == 2


async def test_callers_without_a_key_share_one_budget_per_address(
    limited_apis: tuple[str, str],
) -> None:
    responses = await _burst(list(limited_apis), BURST + 1)
    assert sorted(r.status_code for r in responses) == [200] * BURST + [429]


async def test_without_redis_reads_pass_and_mutations_are_refused(
    settings: Settings, engine: object, tmp_path: Path
) -> None:
    port = free_port()
    with embedded_redis_server() as redis_url:
        env = settings_env(settings.model_copy(update={"redis_url": redis_url}))
        server = Process(["serve", "--port", str(port)], env, tmp_path / "api.log")
        try:
            wait_http_ok(f"http://127.0.0.1:{port}/health/ready", process=server)
        except Exception:
            server.stop()
            raise
    url = f"http://127.0.0.1:{port}"
    try:
        before = await post(url, "{ jobs(first: 1) { totalCount } }", key=API_KEY)
        read = await post(url, PROMPTS, key=API_KEY)
        write = await post(
            url,
            'mutation { collectRaces(input: {date: "20240102", meet: 1}) { id } }',
            key=API_KEY,
        )
        after = await post(url, "{ jobs(first: 1) { totalCount } }", key=API_KEY)
    finally:
        server.stop()
    assert read.status_code == 200
    assert read.json()["data"]["prompts"]
    assert write.status_code == 503
    assert codes(write) == ["RATE_LIMITED"]
    assert write.headers["retry-after"] == "5"
    assert before.json() == after.json()
    assert "ratelimit.unavailable" in server.output()
    assert "Traceback" not in server.output()


def _nested(wraps: int) -> str:
    """races > edges > node > (entries > race) x wraps > id: 4 + 2 * wraps fields deep."""
    body = "id"
    for _ in range(wraps):
        body = "entries { race { " + body + " } }"
    return "{ races(first: 1) { edges { node { " + body + " } } } }"


@pytest.mark.parametrize(
    ("document", "limit"),
    [
        (_nested(5), "depth"),
        ("{ " + " ".join(f"a{i}: __typename" for i in range(21)) + " }", "aliases"),
        ("{ " + " ".join(["__typename"] * 2100) + " }", "tokens"),
        ("{ __typename " + "# x\n" * 2100 + "}", "tokens"),
    ],
)
async def test_document_bombs_get_a_typed_error(api_url: str, document: str, limit: str) -> None:
    response = await post(api_url, document, key=API_KEY)
    assert response.status_code == 200
    errors = response.json()["errors"]
    assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "query", "limit": limit}
    assert "data" not in response.json() or response.json()["data"] is None


async def test_queries_within_the_limits_pass(api_url: str) -> None:
    response = await post(api_url, _nested(4), key=API_KEY)  # 12 deep: the default limit
    assert response.status_code == 200
    assert "errors" not in response.json()


async def test_fragments_spreading_each_other_are_measured_in_linear_time(api_url: str) -> None:
    """Forty fragments each spreading the next twice: 2^40 paths, one measurement each."""
    levels = 40
    fragments = "".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}\n" for i in range(levels)
    )
    harmless = "{ ...F0 }\n" + fragments + f"fragment F{levels} on Query {{ __typename }}"
    aliased = "{ ...F0 }\n" + fragments + f"fragment F{levels} on Query {{ t: __typename }}"
    started = time.monotonic()
    ok = await post(api_url, harmless, key=API_KEY)
    refused = await post(api_url, aliased, key=API_KEY)
    assert time.monotonic() - started < 5
    assert ok.json() == {"data": {"__typename": "Query"}}
    assert refused.json()["errors"][0]["extensions"]["limit"] == "aliases"


async def test_an_oversized_body_is_refused_before_it_is_read(api_url: str) -> None:
    padding = "x" * (300 * 1024)
    async with httpx.AsyncClient(timeout=30) as client:
        declared = await client.post(
            f"{api_url}/graphql", json={"query": "{ __typename }", "variables": {"p": padding}}
        )

        async def chunks() -> object:
            yield b'{"query": "{ __typename }", "variables": {"p": "'
            for _ in range(300):
                yield b"y" * 1024
            yield b'"}}'

        streamed = await client.post(
            f"{api_url}/graphql",
            content=chunks(),  # type: ignore[arg-type]
            headers={"content-type": "application/json"},
        )
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["errors"][0]["extensions"] == {
            "code": "BAD_USER_INPUT",
            "field": "body",
        }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"query": "{ __typename }"}, {"query": "{ __typename }"}]', "batched"),
        (b'{"query": "{ __typename }"', "not JSON"),
        (b'"{ __typename }"', "JSON object"),
        (b'{"query": 42}', "string"),
    ],
)
async def test_malformed_requests_get_a_typed_400(api_url: str, body: bytes, message: str) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{api_url}/graphql",
            content=body,
            headers={"content-type": "application/json", "Authorization": f"Bearer {API_KEY}"},
        )
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert message in error["message"]


async def test_page_sizes_are_capped_at_100(api_url: str) -> None:
    for field in ("races", "horses", "jockeys", "trainers", "jobs", "predictions", "evaluations"):
        response = await post(api_url, f"{{ {field}(first: 101) {{ totalCount }} }}", key=API_KEY)
        assert response.json()["errors"][0]["extensions"] == {
            "code": "BAD_USER_INPUT",
            "field": "first",
        }, field


@pytest.mark.parametrize("cursor", ["", "%%%", "bm90IGEgY3Vyc29y"])
async def test_a_cursor_the_api_did_not_return_is_bad_user_input(api_url: str, cursor: str) -> None:
    for field in ("races", "horses", "jockeys", "trainers", "jobs", "predictions", "evaluations"):
        response = await post(
            api_url, f'{{ {field}(first: 5, after: "{cursor}") {{ totalCount }} }}', key=API_KEY
        )
        assert response.json()["errors"][0]["extensions"] == {
            "code": "BAD_USER_INPUT",
            "field": "after",
        }, field


@pytest.fixture(scope="module")
def locked_down_api(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("locked") / "api.log"
    with api_server(
        settings, log, ENVIRONMENT="production", CORS_ALLOW_ORIGINS="https://board.example"
    ) as (url, _):
        yield url


async def test_production_turns_introspection_off(locked_down_api: str, api_url: str) -> None:
    document = "{ __schema { queryType { name } } }"
    refused = await post(locked_down_api, document, key=API_KEY)
    allowed = await post(api_url, document, key=API_KEY)
    typename = await post(locked_down_api, "{ __typename }", key=API_KEY)
    assert refused.json()["errors"][0]["extensions"]["limit"] == "introspection"
    assert allowed.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    assert typename.json() == {"data": {"__typename": "Query"}}


async def test_without_introspection_errors_suggest_no_schema_names(
    locked_down_api: str, api_url: str
) -> None:
    document = "{ racez(first: 1) { totalCount } }"
    hidden = (await post(locked_down_api, document, key=API_KEY)).json()["errors"][0]
    told = (await post(api_url, document, key=API_KEY)).json()["errors"][0]
    assert "Did you mean" in told["message"]
    assert "races" in told["message"]
    assert hidden["message"] == "Cannot query field 'racez' on type 'Query'."
    assert hidden["extensions"]["code"] == "BAD_USER_INPUT"


async def test_cors_allows_only_listed_origins(locked_down_api: str) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    async with httpx.AsyncClient(base_url=locked_down_api) as client:
        listed = await client.options(
            "/graphql", headers={"Origin": "https://board.example", **preflight}
        )
        other = await client.options(
            "/graphql", headers={"Origin": "https://elsewhere.example", **preflight}
        )
        answer = await client.post(
            "/graphql",
            json={"query": "{ __typename }"},
            headers={"Origin": "https://board.example", "Authorization": f"Bearer {API_KEY}"},
        )
    assert listed.status_code == 200
    assert listed.headers["access-control-allow-origin"] == "https://board.example"
    assert "authorization" in listed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in other.headers
    assert answer.headers["access-control-allow-origin"] == "https://board.example"
    assert "x-request-id" in answer.headers["access-control-expose-headers"].lower()

    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(
            ws_url(locked_down_api),
            subprotocols=[TRANSPORT_WS],  # type: ignore[list-item]
            origin="https://elsewhere.example",  # type: ignore[arg-type]
        ):
            pass


async def test_operations_over_a_websocket_spend_the_same_budget(
    limited_apis: tuple[str, str], sessions: async_sessionmaker[AsyncSession]
) -> None:
    _, key = await new_key(sessions, Scope.READ)
    transport = ws_transport(limited_apis[0], key)
    answered = 0
    async with Client(transport=transport) as session:
        for _ in range(BURST):
            await session.execute(GraphQLRequest(PROMPTS))
            answered += 1
        with pytest.raises(TransportQueryError) as raised:
            await session.execute(GraphQLRequest(PROMPTS))
    assert answered == BURST
    error = (raised.value.errors or [{}])[0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["retryAfter"] >= 1
    # The same key over HTTP, on the other process, finds its budget spent too.
    assert (await post(limited_apis[1], PROMPTS, key=key)).status_code == 429
