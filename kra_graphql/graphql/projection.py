"""The columns a selection of entries reads, so that a listing leaves the others unread.

A page of races with its entries, horses and jockeys has 65 columns per entry where a
typical query shows eight; decoding the rest was a fifth of a cold read. Each field of
Entry, Horse, Jockey and Trainer maps to the columns its value comes from: a plain field
to the column of its own name, the others as listed in `READS`. A selected field that
maps to nothing known (a field added without an entry here) makes the listing read every
column: a gap here costs speed, never a wrong answer. A test checks every field's value
against the one read with all columns.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

import strawberry
from sqlmodel import SQLModel
from strawberry.types.base import StrawberryObjectDefinition

from kra_graphql.db import table_of
from kra_graphql.graphql.context import Context
from kra_graphql.graphql.selection import Tree, from_selection
from kra_graphql.races import models
from kra_graphql.races.people import PersonKind

_MODELS: dict[str, type[SQLModel]] = {
    "Entry": models.Entry,
    "Horse": models.Horse,
    "Jockey": models.Jockey,
    "Trainer": models.Trainer,
}
# An entry's people: the field, the GraphQL type of the person.
PEOPLE: dict[PersonKind, str] = {"horse": "Horse", "jockey": "Jockey", "trainer": "Trainer"}

# Fields whose value comes from columns other than the one of their own name.
READS: dict[tuple[str, str], tuple[str, ...]] = {
    ("Entry", "id"): ("race_id", "gate_number"),
    ("Entry", "race"): ("race_id",),
    ("Horse", "id"): ("horse_no",),
    ("Horse", "career"): models.CAREER_FIELDS,
    ("Horse", "entries"): ("horse_no",),
    ("Jockey", "id"): ("jockey_no",),
    ("Jockey", "career"): models.CAREER_FIELDS,
    ("Jockey", "entries"): ("jockey_no",),
    ("Trainer", "id"): ("trainer_no",),
    ("Trainer", "career"): models.CAREER_FIELDS,
    ("Trainer", "entries"): ("trainer_no",),
}


class EntryReads(NamedTuple):
    kinds: frozenset[PersonKind]  # the people selected
    needed: frozenset[str] | None  # `table.column` read; None: every column


@cache
def _plain_attributes(schema: strawberry.Schema, type_name: str) -> dict[str, str]:
    """The GraphQL names of a type's fields that are a bare attribute, with that attribute."""
    definition = schema.get_type_by_name(type_name)
    assert isinstance(definition, StrawberryObjectDefinition)
    names = schema.config.name_converter
    return {
        names.get_graphql_name(field): field.python_name
        for field in definition.fields
        if field.base_resolver is None and not field.arguments
    }


def _columns(schema: strawberry.Schema, type_name: str, tree: Tree) -> set[str] | None:
    table = table_of(_MODELS[type_name])
    plain = _plain_attributes(schema, type_name)
    needed: set[str] = set()
    for name, under in tree.items():
        if name == "__typename":
            continue
        if type_name == "Entry" and name in PEOPLE:
            person = _columns(schema, PEOPLE[name], under)
            if person is None:
                return None
            needed |= person
            continue
        reads = READS.get((type_name, name))
        if reads is None:
            attribute = plain.get(name)
            if attribute is None or attribute not in table.columns:
                return None
            reads = (attribute,)
        needed.update(f"{table.name}.{column}" for column in reads)
    return needed


def entry_reads(info: strawberry.Info[Context, None], *, placed: bool = False) -> EntryReads:
    """What a list of entries must read for the selection under this field. Placed
    entries are sorted by finishing position, which is then read too."""
    schema = info.schema

    def reads(tree: Tree) -> EntryReads:
        columns = _columns(schema, "Entry", tree)
        if columns is not None and placed:
            columns.add("entries.finish_position")
        return EntryReads(
            frozenset(kind for kind in PEOPLE if kind in tree),
            frozenset(columns) if columns is not None else None,
        )

    return from_selection(info, ("entry_reads", placed), reads)
