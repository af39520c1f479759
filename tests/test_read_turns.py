"""Queries take turns: at most READ_CONCURRENCY of them execute at once in a process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from kra_graphql.access.keys import ALL_SCOPES, Principal
from kra_graphql.graphql.context import Context
from kra_graphql.runtime import Runtime
from tests.factories import Seeded, remove, seed_races, unused_day
from tests.support import configured_schema, runtime_only_services

schema = configured_schema()

QUERY = "{ races(first: 5) { edges { node { id entries { gateNumber horse { name } } } } } }"
QUERIES = 6
# Long enough that, without turns, every query is inside a read at once.
READ_DELAY_S = 0.05


@pytest.fixture(scope="module")
async def seeded(runtime: Runtime) -> AsyncIterator[Seeded]:
    seeded = await seed_races(runtime, days=[unused_day()], meets=(1,), runners=3)
    yield seeded
    await remove(runtime, seeded)


class ReadsInFlight:
    """How many operations were inside a database read at the same time, at most."""

    def __init__(self) -> None:
        self.inside: set[int] = set()
        self.most = 0

    def observing(self, read: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def observed(context: Context, query: Any) -> Any:
            self.inside.add(id(context))
            self.most = max(self.most, len(self.inside))
            try:
                await asyncio.sleep(READ_DELAY_S)
                return await read(context, query)
            finally:
                self.inside.discard(id(context))

        return observed


async def _most_at_once(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, reads: asyncio.Semaphore | None
) -> int:
    seen = ReadsInFlight()
    monkeypatch.setattr(Context, "read", seen.observing(Context.read))
    services = runtime_only_services(runtime, reads=reads)
    results = await asyncio.gather(
        *(schema.execute(QUERY, context_value=Context(services)) for _ in range(QUERIES))
    )
    for result in results:
        assert result.errors is None
        assert result.data
        assert result.data["races"]["edges"][0]["node"]["entries"]
    return seen.most


async def test_queries_execute_at_most_their_turns_at_once(
    runtime: Runtime, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await _most_at_once(runtime, monkeypatch, asyncio.Semaphore(2)) == 2


async def test_without_turns_every_query_executes_at_once(
    runtime: Runtime, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await _most_at_once(runtime, monkeypatch, None) == QUERIES


async def test_a_mutation_does_not_wait_for_a_turn(runtime: Runtime, seeded: Seeded) -> None:
    turns = asyncio.Semaphore(1)
    admin = Principal(name="turns", scopes=ALL_SCOPES)
    context = Context(runtime_only_services(runtime, reads=turns), principal=admin)
    async with turns:  # every turn taken
        result = await asyncio.wait_for(
            schema.execute(
                'mutation { cancelJob(id: "job_not_there") { id } }', context_value=context
            ),
            timeout=10,
        )
        query = asyncio.ensure_future(schema.execute("{ __typename }", context_value=context))
        await asyncio.sleep(READ_DELAY_S)
        assert not query.done()
        assert REGISTRY.get_sample_value("kra_graphql_queries_waiting") == 1
    assert result.errors
    assert result.errors[0].extensions == {"code": "NOT_FOUND", "field": "id"}
    answered = await asyncio.wait_for(query, timeout=10)
    assert answered.data == {"__typename": "Query"}
    assert REGISTRY.get_sample_value("kra_graphql_queries_waiting") == 0
