"""Cached answers: byte-identical while race data is unchanged, fresh after any write."""

from __future__ import annotations

import httpx
import pytest
from starlette.types import Message

from kra_graphql.access.keys import Principal, Scope
from kra_graphql.graphql.cache import ResponseCache, capture_answer
from kra_graphql.graphql.cache import cacheable as is_cacheable
from kra_graphql.graphql.document import operation_of
from kra_graphql.graphql.request import OperationRequest
from kra_graphql.runtime import Runtime
from tests.conftest import auth_headers
from tests.factories import remove, seed_races, unused_day

RACES = "query D($d: String!) { races(filter: {date: $d}) { totalCount edges { node { id } } } }"


async def post(api_url: str, query: str, **variables: object) -> bytes:
    async with httpx.AsyncClient(base_url=api_url) as client:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=auth_headers()
        )
    assert response.status_code == 200
    return response.content


async def test_a_write_makes_the_next_answer_fresh(api_url: str, runtime: Runtime) -> None:
    day = unused_day()
    empty = await post(api_url, RACES, d=f"{day:%Y%m%d}")
    again = await post(api_url, RACES, d=f"{day:%Y%m%d}")
    seeded = await seed_races(runtime, days=[day], races_per_meet=2)
    try:
        fresh = await post(api_url, RACES, d=f"{day:%Y%m%d}")
    finally:
        await remove(runtime, seeded)
    gone = await post(api_url, RACES, d=f"{day:%Y%m%d}")

    assert empty == again
    assert b'"totalCount":0' in empty
    assert b'"totalCount":2' in fresh
    assert gone == empty


@pytest.mark.parametrize(
    ("query", "cacheable"),
    [
        ("{ races { totalCount } }", True),
        ('query Q { race(id: "x") { id } horses { totalCount } }', True),
        ("{ races { totalCount } jobs { totalCount } }", False),
        ("{ health { database } }", False),
        ('{ node(id: "job_1") { id } }', False),
        ('mutation { cancelJob(id: "x") { id } }', False),
        ("subscription { jobEvents { sequence } }", False),
        ("{ ...F } fragment F on Query { races { totalCount } }", False),
        ("not graphql", False),
    ],
)
def test_only_queries_over_race_data_are_cacheable(query: str, cacheable: bool) -> None:
    assert is_cacheable(operation_of(query, None, 2000)) is cacheable


def _as(*scopes: Scope, name: str | None = None) -> OperationRequest:
    """A POST of a races query by a caller the guard identified."""
    query = "{ races { totalCount } }"
    principal = Principal(name=name, scopes=frozenset(scopes))
    operation = operation_of(query, None, 2000)
    return OperationRequest(b"", {"query": query}, query, None, operation, principal)


def test_answers_are_shared_only_by_callers_with_the_same_scopes(runtime: Runtime) -> None:
    cache = ResponseCache(runtime)
    anonymous = cache.key(_as(Scope.READ))
    alice = cache.key(_as(Scope.READ, name="alice"))
    admin = cache.key(_as(Scope.READ, Scope.ADMIN, name="root"))
    collector = cache.key(_as(Scope.READ, Scope.COLLECT, name="bob"))
    assert None not in (anonymous, alice, admin, collector)
    assert anonymous == alice
    assert len({alice, admin, collector}) == 3


def test_nothing_is_cached_for_a_caller_the_guard_did_not_identify() -> None:
    """Raw credential headers alone never make a cache key: only a proven principal does."""
    scope = {"headers": [(b"authorization", b"Bearer forged")], "state": {}}
    assert OperationRequest.of(scope) is None


@pytest.mark.parametrize(
    ("status", "body", "kept"),
    [
        (200, b'{"data":{"races":{"totalCount":1}}}', True),
        (200, b'{"data":null,"errors":[{"message":"x"}]}', False),
        (200, b'{"data":{"race":{"name":"\\"errors\\""}}}', True),
        (500, b'{"data":{"races":{"totalCount":1}}}', False),
    ],
)
async def test_only_complete_error_free_answers_are_kept(
    status: int, body: bytes, kept: bool
) -> None:
    stored: list[bytes] = []
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    capture = capture_answer(send, stored.append)
    await capture({"type": "http.response.start", "status": status, "headers": []})
    await capture({"type": "http.response.body", "body": body[:5], "more_body": True})
    await capture({"type": "http.response.body", "body": body[5:]})
    assert stored == ([body] if kept else [])
    assert len(sent) == 3
