"""API keys on HTTP and WebSocket: scopes per operation, job ownership, revocation, the CLI."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from kra_graphql.access.keys import Scope, create_key
from kra_graphql.access.models import ApiKey
from kra_graphql.config import Settings
from tests.access_support import (
    LEGACY_WS,
    TRANSPORT_WS,
    bearer,
    codes,
    new_key,
    post,
    ws_exchange,
    ws_transport,
    ws_url,
)
from tests.conftest import API_KEY, API_KEY_NAME, api_server, settings_env
from tests.support import CLI, ROOT

COLLECT = """
mutation C($d: String!) {
  collectRaces(input: {date: $d, meet: 1, raceNumbers: [1], enrich: false, withResults: false})
  { id requestedBy status }
}
"""
CANCEL = "mutation X($id: ID!) { cancelJob(id: $id) { id status } }"
RETRY = "mutation R($id: ID!) { retryJob(id: $id) { id status } }"
PROGRESS = "subscription P($id: ID!) { jobProgress(id: $id) { type job { id status } } }"
# A day the replay server has no races for: a job on it never writes race data.
EMPTY_DAY = "20240102"


@pytest.fixture(scope="module")
def production_api(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """ENVIRONMENT=production: anonymous reads are refused there by default."""
    log = tmp_path_factory.mktemp("prod") / "api.log"
    with api_server(settings, log, ENVIRONMENT="production") as (url, _process):
        yield url


async def submit(api_url: str, key: str) -> dict[str, Any]:
    response = await post(api_url, COLLECT, key=key, variables={"d": EMPTY_DAY})
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()["data"]["collectRaces"]
    return job


async def test_a_key_is_stored_only_as_its_hash(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    created = await create_key(sessions, "hash-only-check", [Scope.READ])
    async with sessions() as session:
        row = await session.scalar(select(ApiKey).where(col(ApiKey.name) == "hash-only-check"))
        dump = (await session.execute(text("SELECT * FROM api_keys"))).all()
    assert row is not None
    assert row.key_hash == hashlib.sha256(created.key.encode()).hexdigest()
    assert created.key not in repr(dump)
    assert created.key.startswith(row.prefix)
    assert len(row.prefix) < len(created.key) // 3


async def test_bearer_and_x_api_key_both_identify_the_caller(
    api_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    name, key = await new_key(sessions, Scope.COLLECT)
    variables = {"d": EMPTY_DAY}
    by_bearer = await post(api_url, COLLECT, headers=bearer(key), variables=variables)
    by_header = await post(api_url, COLLECT, headers={"X-API-Key": key}, variables=variables)
    for response in (by_bearer, by_header):
        assert response.status_code == 200, response.text
        assert response.json()["data"]["collectRaces"]["requestedBy"] == name


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer kra_" + "x" * 40},
        {"Authorization": ("Bearer " + "한" * 30).encode()},
        {"X-API-Key": "not-a-key-at-all-but-long-enough"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"X-API-Key": "kra_"},
    ],
)
async def test_a_bad_key_is_refused_the_same_way_whatever_it_is(
    api_url: str, headers: Mapping[str, str | bytes]
) -> None:
    response = await post(api_url, "{ prompts { id } }", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json() == {
        "data": None,
        "errors": [{"message": "invalid API key", "extensions": {"code": "UNAUTHENTICATED"}}],
    }


async def test_anonymous_callers_read_in_development_but_never_write(api_url: str) -> None:
    read = await post(api_url, "{ prompts { id } }")
    write = await post(api_url, COLLECT, variables={"d": EMPTY_DAY})
    assert read.status_code == 200
    assert read.json()["data"]["prompts"]
    assert write.status_code == 401
    assert codes(write) == ["UNAUTHENTICATED"]


async def test_production_refuses_anonymous_reads(production_api: str) -> None:
    anonymous = await post(production_api, "{ prompts { id } }")
    with_key = await post(production_api, "{ prompts { id } }", key=API_KEY)
    assert anonymous.status_code == 401
    assert codes(anonymous) == ["UNAUTHENTICATED"]
    assert with_key.status_code == 200
    assert with_key.json()["data"]["prompts"]


async def test_each_mutation_needs_its_scope(
    api_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    _, reader = await new_key(sessions, Scope.READ)
    _, predictor = await new_key(sessions, Scope.PREDICT)
    _, collector = await new_key(sessions, Scope.COLLECT)
    variables = {"d": EMPTY_DAY}
    for key in (reader, predictor):
        refused = await post(api_url, COLLECT, key=key, variables=variables)
        assert refused.status_code == 403
        assert codes(refused) == ["FORBIDDEN"]
        assert refused.json()["data"] is None
    allowed = await post(api_url, COLLECT, key=collector, variables=variables)
    assert allowed.status_code == 200
    # A collector may not read: queries need `read`.
    assert codes(await post(api_url, "{ prompts { id } }", key=collector)) == ["FORBIDDEN"]


async def test_a_mutation_hidden_in_a_fragment_still_needs_its_scope(
    api_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    _, reader = await new_key(sessions, Scope.READ)
    document = (
        "mutation { ...M } fragment M on Mutation { ... on Mutation { "
        'collectRaces(input: {date: "20240102", meet: 1}) { id } } }'
    )
    refused = await post(api_url, document, key=reader)
    assert refused.status_code == 403
    assert codes(refused) == ["FORBIDDEN"]


async def test_only_the_submitter_or_an_admin_cancels_or_retries_a_job(
    api_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    owner_name, owner = await new_key(sessions, Scope.COLLECT)
    _, other = await new_key(sessions, Scope.COLLECT, Scope.PREDICT, Scope.READ)
    first = await submit(api_url, owner)
    second = await submit(api_url, owner)
    assert first["requestedBy"] == owner_name

    # Another key's job is out of sight: refused as a missing one.
    refused = await post(api_url, CANCEL, key=other, variables={"id": first["id"]})
    assert codes(refused) == ["NOT_FOUND"]
    assert refused.json()["data"] is None
    state = await post(api_url, "query J($id: ID!) { job(id: $id) { status } }", key=API_KEY,
                       variables={"id": first["id"]})  # fmt: skip
    assert state.json()["data"]["job"]["status"] in {"QUEUED", "PROCESSING", "FAILED"}

    by_owner = await post(api_url, CANCEL, key=owner, variables={"id": first["id"]})
    by_admin = await post(api_url, CANCEL, key=API_KEY, variables={"id": second["id"]})
    assert codes(by_owner) == codes(by_admin) == []
    retry_refused = await post(api_url, RETRY, key=other, variables={"id": first["id"]})
    assert codes(retry_refused) == ["NOT_FOUND"]
    retried = await post(api_url, RETRY, key=owner, variables={"id": first["id"]})
    assert retried.json()["data"]["retryJob"]["status"] == "QUEUED"


def run_cli(*args: str, settings: Settings) -> Any:
    import subprocess

    return subprocess.run(
        [*CLI, *args],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


async def test_keys_commands_create_list_and_revoke(api_url: str, settings: Settings) -> None:
    name = f"cli-{time.monotonic_ns() % 10**8}"
    created = run_cli(
        "keys", "create", "--name", name, "--scopes", "read,predict", settings=settings
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert re.fullmatch(r"kra_[A-Za-z0-9_-]{40}", key)
    assert key not in created.stderr

    listed = run_cli("keys", "list", settings=settings)
    assert listed.returncode == 0, listed.stderr
    assert name in listed.stdout
    assert key[:12] in listed.stdout
    assert key not in listed.stdout
    assert API_KEY_NAME in listed.stdout  # keys from API_KEYS are listed too
    assert API_KEY not in listed.stdout

    works = await post(api_url, "{ prompts { id } }", key=key)
    assert works.status_code == 200
    started = time.monotonic()
    revoked = run_cli("keys", "revoke", name, settings=settings)
    assert revoked.returncode == 0, revoked.stderr
    # Each server process trusts a looked-up key for API_KEY_CACHE_S (1 s in tests).
    status = 200
    while status == 200 and time.monotonic() - started < 5:
        status = (await post(api_url, "{ prompts { id } }", key=key)).status_code
        await asyncio.sleep(0.1)
    assert status == 401
    assert time.monotonic() - started <= settings.api_key_cache_s + 3

    again = run_cli("keys", "create", "--name", name, "--scopes", "read", settings=settings)
    bad_scope = run_cli("keys", "create", "--name", "x1", "--scopes", "root", settings=settings)
    assert again.returncode == bad_scope.returncode == 2
    assert "exists" in again.stderr
    assert "unknown scope" in bad_scope.stderr


async def test_admin_keys_manage_keys_over_graphql(
    api_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    _, reader = await new_key(sessions, Scope.READ)
    create = """
    mutation N($input: CreateApiKeyInput!) {
      createApiKey(input: $input) { key apiKey { id name prefix scopes revokedAt } }
    }
    """
    name = f"gql-{time.monotonic_ns() % 10**8}"
    variables = {"input": {"name": name, "scopes": ["READ"]}}
    refused = await post(api_url, create, key=reader, variables=variables)
    assert refused.status_code == 403
    made = await post(api_url, create, key=API_KEY, variables=variables)
    body = made.json()["data"]["createApiKey"]
    assert body["apiKey"]["scopes"] == ["READ"]
    assert body["key"].startswith(body["apiKey"]["prefix"])
    assert (await post(api_url, "{ prompts { id } }", key=body["key"])).status_code == 200

    listing = await post(api_url, "{ apiKeys { name prefix scopes } }", key=API_KEY)
    assert name in {k["name"] for k in listing.json()["data"]["apiKeys"]}
    assert body["key"] not in listing.text
    assert codes(await post(api_url, "{ apiKeys { name } }", key=reader)) == ["FORBIDDEN"]

    bad = await post(
        api_url, create, key=API_KEY, variables={"input": {"name": "Bad Name!", "scopes": []}}
    )
    assert [e["extensions"] for e in bad.json()["errors"]] == [
        {"code": "BAD_USER_INPUT", "field": "input.name"}
    ]
    revoke = f'mutation {{ revokeApiKey(name: "{name}") {{ revokedAt }} }}'
    assert (await post(api_url, revoke, key=API_KEY)).json()["data"]["revokeApiKey"]["revokedAt"]


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
@pytest.mark.parametrize(
    "payload",
    [{"apiKey": "kra_" + "y" * 40}, {"Authorization": "Bearer nope-nope-nope"}, {"apiKey": 7}],
)
async def test_a_websocket_with_a_bad_key_closes_4403_before_anything_runs(
    api_url: str, protocol: str, payload: dict[str, Any]
) -> None:
    messages, code = await ws_exchange(
        api_url, protocol, payload, subscribe="subscription { jobEvents { sequence } }"
    )
    assert code == 4403
    assert all(m["type"] in {"connection_error"} for m in messages), messages


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_websocket_without_a_key_closes_4403_where_reads_need_one(
    production_api: str, protocol: str
) -> None:
    messages, code = await ws_exchange(
        production_api, protocol, None, subscribe="subscription { jobEvents { sequence } }"
    )
    assert code == 4403
    assert not [m for m in messages if m["type"] in {"next", "data", "connection_ack"}]


@pytest.mark.parametrize(
    ("protocol", "payload"),
    [
        (WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL, {"apiKey": API_KEY}),
        (WebsocketsTransport.APOLLO_SUBPROTOCOL, {"apiKey": API_KEY}),
        (WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL, {"Authorization": f"Bearer {API_KEY}"}),
        (WebsocketsTransport.APOLLO_SUBPROTOCOL, {"authorization": f"Bearer {API_KEY}"}),
    ],
)
async def test_a_websocket_with_a_key_in_connection_init_subscribes(
    production_api: str, protocol: str, payload: dict[str, Any]
) -> None:
    job = await submit(production_api, API_KEY)
    await post(production_api, CANCEL, key=API_KEY, variables={"id": job["id"]})
    transport = WebsocketsTransport(
        url=ws_url(production_api), subprotocols=[protocol], init_payload=payload
    )
    async with Client(transport=transport) as session:
        events = [
            e["jobProgress"]
            async for e in session.subscribe(
                GraphQLRequest(PROGRESS, variable_values={"id": job["id"]})
            )
        ]
    assert events == [{"type": "SNAPSHOT", "job": {"id": job["id"], "status": "CANCELLED"}}]


async def test_a_key_without_read_may_connect_but_not_subscribe(
    api_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    _, collector = await new_key(sessions, Scope.COLLECT)
    async with Client(transport=ws_transport(api_url, collector)) as session:
        with pytest.raises(TransportQueryError) as raised:
            async for _ in session.subscribe(
                GraphQLRequest("subscription { jobEvents { sequence } }")
            ):
                pass
    assert (raised.value.errors or [{}])[0]["extensions"]["code"] == "FORBIDDEN"


async def test_dev_key_and_settings_never_reach_the_logs(
    settings: Settings, tmp_path: Path
) -> None:
    """The server's log after authenticated and refused requests holds no key."""
    with api_server(settings, tmp_path / "api.log", LOG_LEVEL="DEBUG") as (url, process):
        await post(url, "{ prompts { id } }", key=API_KEY)
        await post(url, "{ prompts { id } }", key="kra_" + "z" * 40)
        await post(url, "{ prompts { id } }", headers={"X-API-Key": "a-wrong-key-of-some-length"})
    output = process.output()
    assert "graphql.operation" in output
    assert API_KEY_NAME in output
    for secret in (API_KEY, "kra_" + "z" * 40, "a-wrong-key-of-some-length"):
        assert secret not in output
