"""The fast leaf executor answers exactly what graphql-core's own executor answers."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from graphql import parse
from sqlalchemy import text
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from kra_graphql.graphql.context import Context
from kra_graphql.graphql.fastpath import OFF, ON, executor
from kra_graphql.graphql.fastpath.executor import FastLeafExecutor
from kra_graphql.graphql.schema import Schema, schema_for
from kra_graphql.lru import IdentityLRU
from kra_graphql.runtime import Runtime
from tests.factories import Seeded, remove, seed_races, unused_day
from tests.support import runtime_only_services

QUERIES = {
    "nested lists": """
        { races(first: 50) { totalCount edges { cursor node {
            id date meet raceNumber name distance raceClass qualityScore qualityWarnings
            createdAt collectionStatus
            entries { id gateNumber horseName winOdds finishPosition scratched carriedWeight
              horse { id horseNo name birthDate prizeTotal career { startsTotal winRate } }
              jockey { jockeyNo name } trainer { trainerNo name } }
            result { gateNumber }
        } } } }
    """,
    "aliases and fragments": """
        fragment Who on Entry { h: horse { ...Named } jockey { __typename name } }
        fragment Named on Horse { name horseNo }
        { races(first: 5) { edges { node { __typename first: id again: id
            entries { ...Who ... on Entry { gate: gateNumber } } } } } }
    """,
    "skip and include": """
        query($yes: Boolean!) { races(first: 3) { edges { node {
            id @skip(if: $yes) name @include(if: $yes) entries { gateNumber @include(if: false) id }
        } } } }
    """,
    "enums and JSON": "{ prompts { id predictor parameters createdAt } }",
    "node and missing node": """
        { a: node(id: "race_9_20990101_1") { id } b: node(id: "nonsense") { id } }
    """,
    "history connection": """
        { horses(first: 3) { edges { node { name entries(first: 2) {
            totalCount edges { node { gateNumber race { id date } horse { name } } } } } } } }
    """,
}


# A piece of each answer, so that a comparison of two empty answers cannot pass.
EXPECTED = {
    "nested lists": b'"horse":{"id":"horse_T',
    "aliases and fragments": b'"h":{"name":"',
    "skip and include": b'"name":"race 1"',
    "enums and JSON": b'"predictor":"FORM"',
    "node and missing node": b'"a":null',
    "history connection": b'"totalCount":1',
}


@pytest.fixture(scope="module")
async def seeded(runtime: Runtime) -> AsyncIterator[Seeded]:
    seeded = await seed_races(runtime, days=[unused_day(), unused_day()], meets=(1, 2), runners=4)
    yield seeded
    await remove(runtime, seeded)


# Every fast-path piece on, and none: whatever the environment asks of the server.
FAST = schema_for(ON)
STOCK = schema_for(OFF)


def _context(runtime: Runtime) -> Context:
    return Context(runtime_only_services(runtime))


async def _answer(runtime: Runtime, query: str, schema: Schema = FAST) -> bytes:
    context = _context(runtime)
    try:
        result = await schema.execute(query, variable_values={"yes": True}, context_value=context)
    finally:
        await context.close()
    errors = [(error.message, error.path) for error in result.errors or []]
    return orjson.dumps({"data": result.data, "errors": errors})


def _change_rows(monkeypatch: pytest.MonkeyPatch, view: type, change: Callable[[Any], Any]) -> None:
    """Every object of the view type is built from its row as `change` returns it."""
    original = vars(view)["__init__"]  # each view defines its own

    def changed(self: Any, row: Any, *args: Any) -> None:
        original(self, change(row), *args)

    monkeypatch.setattr(view, "__init__", changed)


def _change_entry_rows(monkeypatch: pytest.MonkeyPatch, change: Callable[[Any], Any]) -> None:
    from kra_graphql.graphql import types

    _change_rows(monkeypatch, types.Entry, change)


async def _fast_then_stock(runtime: Runtime, query: str) -> tuple[bytes, bytes]:
    """The answer of the fast path, then of stock Strawberry and graphql-core."""
    return await _answer(runtime, query, FAST), await _answer(runtime, query, STOCK)


def test_the_schema_uses_the_fast_executor() -> None:
    assert FAST.execution_context_class is not None
    assert issubclass(FAST.execution_context_class, FastLeafExecutor)
    assert STOCK.execution_context_class in (None, StrawberryGraphQLCoreExecutionContext)


async def test_an_answered_operation_is_freed_without_the_cycle_collector(
    runtime: Runtime, seeded: Seeded
) -> None:
    """Nothing of a finished request waits for the cycle collector: its executor, context
    and everything they hold go with the last reference."""
    context = _context(runtime)
    context_alive = weakref.ref(context)
    gc.collect()
    gc.disable()
    try:
        result = await FAST.execute(QUERIES["nested lists"], context_value=context)
        await context.close()
        assert result.errors is None
        assert result.data
        assert result.data["races"]["edges"]
        del context, result
        assert context_alive() is None
    finally:
        gc.enable()


async def test_work_tracked_after_its_operation_ended_is_still_settled() -> None:
    settled = asyncio.Event()

    async def left_behind() -> None:
        settled.set()

    executor = FastLeafExecutor.build(FAST._schema, parse("{ __typename }"))
    assert isinstance(executor, FastLeafExecutor)
    helpers = executor.async_helpers
    del executor
    helpers.track([left_behind(), "not awaitable"])
    await asyncio.wait_for(settled.wait(), timeout=5)


@pytest.mark.parametrize("name", sorted(QUERIES))
async def test_answers_match_the_stock_executor_byte_for_byte(
    runtime: Runtime, seeded: Seeded, name: str
) -> None:
    fast, stock = await _fast_then_stock(runtime, QUERIES[name])
    assert fast == stock
    assert EXPECTED[name] in fast


async def test_a_null_in_a_non_null_leaf_is_the_stock_error(
    runtime: Runtime,
    seeded: Seeded,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A broken row takes graphql-core's own path, with its own message and path."""
    from kra_graphql.graphql import types

    _change_rows(monkeypatch, types.Race, lambda row: row._replace(meet=None))
    query = "{ races(first: 1) { edges { node { id meet } } } }"
    fast, stock = await _fast_then_stock(runtime, query)
    assert fast == stock
    assert b"Cannot return null for non-nullable field Race.meet" in fast


async def test_entries_carry_their_own_people_and_none_where_there_is_none(
    runtime: Runtime, seeded: Seeded
) -> None:
    race = seeded.races[0]
    async with runtime.write() as session:
        await session.execute(
            text("UPDATE entries SET jockey_no = NULL WHERE race_id = :race AND gate_number = 1"),
            {"race": race.id},
        )
    answer = orjson.loads(
        await _answer(
            runtime,
            '{ race(id: "' + race.id + '") { entries { gateNumber horseName horse { name } '
            "jockey { jockeyNo } trainer { trainerNo } } } }",
        )
    )
    entries = answer["data"]["race"]["entries"]
    assert [entry["gateNumber"] for entry in entries] == [1, 2, 3, 4]
    assert entries[0]["jockey"] is None
    for entry in entries:
        suffix = entry["horse"]["name"].removeprefix("말")
        assert entry["horseName"] == entry["horse"]["name"]
        assert entry["trainer"] == {"trainerNo": f"R{suffix}"}
        if entry["gateNumber"] != 1:
            assert entry["jockey"] == {"jockeyNo": f"J{suffix}"}


async def test_entries_reached_one_by_one_load_their_people_when_asked(
    runtime: Runtime, seeded: Seeded
) -> None:
    """Through a horse's history and through node(id) the people are loaded only on
    demand, and are the entry's own."""
    horse = seeded.horses[0]
    suffix = horse.horse_no.removeprefix("T")
    history = orjson.loads(
        await _answer(
            runtime,
            '{ horse(horseNo: "' + horse.horse_no + '") { entries(first: 5) { edges { node '
            "{ id horse { horseNo } jockey { jockeyNo } trainer { trainerNo } } } } } }",
        )
    )["data"]["horse"]["entries"]["edges"]
    assert len(history) == 1
    entry = history[0]["node"]
    assert entry["horse"] == {"horseNo": horse.horse_no}
    assert entry["jockey"] == {"jockeyNo": f"J{suffix}"}
    assert entry["trainer"] == {"trainerNo": f"R{suffix}"}
    node = orjson.loads(
        await _answer(
            runtime,
            '{ node(id: "' + entry["id"] + '") { ... on Entry { horse { name } '
            "trainer { trainerNo } } } }",
        )
    )["data"]["node"]
    assert node == {"horse": {"name": horse.name}, "trainer": {"trainerNo": f"R{suffix}"}}


async def test_a_null_in_a_non_null_leaf_of_a_planned_entry_is_the_stock_error(
    runtime: Runtime,
    seeded: Seeded,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Inside a compiled plan too: the plan gives up and the stock path reports."""

    def broken(row: Any) -> Any:
        return row._replace(gate_number=None) if row.gate_number == 2 else row

    query = "{ races(first: 1) { edges { node { entries { gateNumber horse { name } } } } } }"
    _change_entry_rows(monkeypatch, broken)
    fast, stock = await _fast_then_stock(runtime, query)
    assert fast == stock
    assert b"Cannot return null for non-nullable field Entry.gateNumber" in fast


def _plans_for(type_name: str) -> list[object]:
    return [plan for (type_, *_), plan in executor._plans.items() if str(type_) == type_name]


def _forget_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executor, "_plans", IdentityLRU(executor.PLAN_CACHE_SIZE))


async def test_plain_selections_are_planned_and_others_are_not(
    runtime: Runtime, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    _forget_plans(monkeypatch)
    await _answer(
        runtime, "{ races(first: 2) { edges { node { entries { gateNumber horse { name } } } } } }"
    )
    assert [plan is not None for plan in _plans_for("[Entry!]!")] == [True]
    # Career has a resolver; a directive may depend on the variables: neither is planned.
    _forget_plans(monkeypatch)
    await _answer(
        runtime,
        "{ races(first: 2) { edges { node { entries { horse { career { winRate } } } } } } }",
    )
    await _answer(
        runtime,
        "query($yes: Boolean!) { races(first: 2) { edges { node { "
        "entries { gateNumber @include(if: $yes) } } } } }",
    )
    assert [plan is not None for plan in _plans_for("[Entry!]!")] == [False, False]


async def test_a_missing_attribute_in_a_planned_entry_is_the_stock_error(
    runtime: Runtime,
    seeded: Seeded,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from collections import namedtuple

    def without_odds(row: Any) -> Any:
        fields = [name for name in row._fields if name != "win_odds"]
        return namedtuple("ShortRow", fields)(*(getattr(row, name) for name in fields))

    query = "{ races(first: 1) { edges { node { entries { gateNumber winOdds } } } } }"
    _change_entry_rows(monkeypatch, without_odds)
    fast, stock = await _fast_then_stock(runtime, query)
    assert fast == stock
    assert b"win_odds" in fast
    assert b'"winOdds"' in fast
