"""A listing of entries reads only the columns its selection needs, and every field still
answers what it answers when its entry is read with all columns."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any, cast

import pytest
from graphql import GraphQLField, GraphQLNonNull, GraphQLObjectType, get_named_type, is_leaf_type
from sqlalchemy import update
from sqlmodel import col

from kra_graphql.db import table_of
from kra_graphql.graphql.context import Context
from kra_graphql.graphql.projection import PEOPLE
from kra_graphql.races.models import Entry, Horse, Jockey, Trainer
from kra_graphql.races.people import PersonKind
from kra_graphql.runtime import Runtime
from tests.factories import Seeded, remove, seed_races, unused_day
from tests.statements import counting_statements
from tests.support import configured_schema, runtime_only_services

schema = configured_schema()

_values = itertools.count(11)


def _value(python_type: type) -> Any:
    """A distinct value of the column's type, so that a column read as NULL shows."""
    number = next(_values)
    if python_type is bool:
        return True
    if python_type is int:
        return number
    if python_type is float:
        return number + 0.25
    if python_type is date:
        return date(2019, 1, 1 + number % 28)
    if python_type is datetime:
        return datetime(2024, 1, 1 + number % 28, tzinfo=UTC)
    return f"v{number}"


@pytest.fixture(scope="module")
async def seeded(runtime: Runtime) -> AsyncIterator[Seeded]:
    """Races whose entries and people have every served column filled."""
    seeded = await seed_races(runtime, days=[unused_day()], runners=2)
    keyed = (
        (Horse, Horse.horse_no, [horse.horse_no for horse in seeded.horses]),
        (Jockey, Jockey.jockey_no, [jockey.jockey_no for jockey in seeded.jockeys]),
        (Trainer, Trainer.trainer_no, [trainer.trainer_no for trainer in seeded.trainers]),
        (Entry, Entry.race_id, [race.id for race in seeded.races]),
    )
    async with runtime.write() as session:
        for model, key, values in keyed:
            table = table_of(model)
            filled = {
                column.key: _value(getattr(column.type, "impl", column.type).python_type)
                for column in table.columns
                if column.nullable and column.key not in ("raw", "jockey_no", "trainer_no")
            }
            await session.execute(update(table).where(col(key).in_(values)).values(**filled))
    yield seeded
    await remove(runtime, seeded)


def _selection(field: GraphQLField, depth: int = 0) -> str | None:
    """A selection of the field: the field itself for a leaf, its leaves (one more level
    of objects) for an object; None where a required argument or depth stops it."""
    if any(
        isinstance(arg.type, GraphQLNonNull) and arg.default_value is None
        for arg in field.args.values()
    ):
        return None
    named = get_named_type(field.type)
    if is_leaf_type(named):
        return ""
    if not isinstance(named, GraphQLObjectType) or depth > 2:
        return None
    inner = []
    for name, sub in named.fields.items():
        below = _selection(sub, depth + 1)
        if below is not None:
            inner.append(name + below)
    return " { " + " ".join(inner) + " }" if inner else None


def _fields(type_name: str) -> list[tuple[str, str]]:
    graphql_type = schema._schema.get_type(type_name)
    assert isinstance(graphql_type, GraphQLObjectType)
    fields = []
    for name, field in graphql_type.fields.items():
        selection = _selection(field)
        if selection is not None:
            fields.append((name, name + selection))
    return fields


async def _data(runtime: Runtime, query: str) -> Any:
    context = Context(runtime_only_services(runtime))
    try:
        result = await schema.execute(query, context_value=context)
    finally:
        await context.close()
    assert result.errors is None, result.errors
    return result.data


ENTRY_FIELDS = [(name, text) for name, text in _fields("Entry") if name not in PEOPLE]
PERSON_FIELDS = [
    (person, name, text)
    for person, type_name in PEOPLE.items()
    for name, text in _fields(type_name)
]


@pytest.mark.parametrize(
    ("name", "selection"), ENTRY_FIELDS, ids=[name for name, _ in ENTRY_FIELDS]
)
async def test_every_entry_field_matches_the_entry_read_whole(
    runtime: Runtime, seeded: Seeded, name: str, selection: str
) -> None:
    race = seeded.races[0]
    listed = await _data(runtime, f'{{ race(id: "{race.id}") {{ entries {{ id {selection} }} }} }}')
    entries = listed["race"]["entries"]
    assert len(entries) == 2
    for entry in entries:
        whole = await _data(
            runtime, f'{{ node(id: "{entry["id"]}") {{ ... on Entry {{ {selection} }} }} }}'
        )
        assert entry[name] == whole["node"][name]
        assert entry[name] is not None


@pytest.mark.parametrize(
    ("person", "name", "selection"), PERSON_FIELDS, ids=[f"{p}.{n}" for p, n, _ in PERSON_FIELDS]
)
async def test_every_person_field_matches_the_person_read_whole(
    runtime: Runtime, seeded: Seeded, person: PersonKind, name: str, selection: str
) -> None:
    race = seeded.races[0]
    listed = await _data(
        runtime, f'{{ race(id: "{race.id}") {{ entries {{ {person} {{ id {selection} }} }} }} }}'
    )
    for entry in listed["race"]["entries"]:
        found = entry[person]
        whole = await _data(
            runtime,
            f'{{ node(id: "{found["id"]}") {{ ... on {PEOPLE[person]} {{ {selection} }} }} }}',
        )
        assert found[name] == whole["node"][name]
        assert found[name] is not None


async def test_a_listing_reads_only_what_it_shows(runtime: Runtime, seeded: Seeded) -> None:
    """Unselected columns come back as None: the listing's own rows show it."""
    from kra_graphql.races import queries

    race = seeded.races[0]
    query = f'{{ race(id: "{race.id}") {{ entries {{ gateNumber horse {{ name }} }} }} }}'
    seen: list[queries.EntryWithPeople] = []
    original = queries.entries_by_race

    async def spy(*args: Any, **kwargs: Any) -> Any:
        grouped = await original(*args, **kwargs)
        seen.extend(row for rows in grouped.values() for row in rows)
        return grouped

    queries.entries_by_race = spy
    try:
        with counting_statements(runtime.engine) as count:
            data = await _data(runtime, query)
    finally:
        queries.entries_by_race = original
    names = {entry["horse"]["name"] for entry in data["race"]["entries"]}
    assert names == {horse.name for horse in seeded.horses[:2]}
    assert count.value == 2  # the race, then its entries with their horses
    assert len(seen) == 2
    for row in seen:
        entry = {
            name for name, value in cast(Any, row.entry)._asdict().items() if value is not None
        }
        assert entry == {"race_id", "gate_number", "horse_no", "jockey_no", "trainer_no"}
        assert row.horse is not None
        horse = {
            name for name, value in cast(Any, row.horse)._asdict().items() if value is not None
        }
        assert horse == {"horse_no", "name"}
        # Not asked for: not joined.
        assert row.jockey is None
        assert row.trainer is None
