"""Cached answers: byte-identical while race data is unchanged, fresh after any write."""

from __future__ import annotations

import httpx
import pytest
from starlette.types import Message

from kra_graphql.graphql.cache import ResponseCache, cacheable_document, capture_answer
from kra_graphql.runtime import Runtime
from tests.factories import remove, seed_races, unused_day

RACES = "query D($d: String!) { races(filter: {date: $d}) { totalCount edges { node { id } } } }"


async def post(api_url: str, query: str, **variables: object) -> bytes:
    async with httpx.AsyncClient(base_url=api_url) as client:
        response = await client.post("/graphql", json={"query": query, "variables": variables})
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
    assert cacheable_document(query, None) is cacheable


def test_callers_with_different_credentials_never_share_an_answer(runtime: Runtime) -> None:
    cache = ResponseCache(runtime)
    body = b'{"query": "{ races { totalCount } }"}'
    anonymous = cache.key(body, {"headers": []})
    alice = cache.key(body, {"headers": [(b"authorization", b"Bearer a")]})
    bob = cache.key(body, {"headers": [(b"x-api-key", b"b")]})
    assert None not in (anonymous, alice, bob)
    assert len({anonymous, alice, bob}) == 3


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
