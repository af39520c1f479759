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

import operator
from typing import NamedTuple

import strawberry
from graphql import FieldNode, GraphQLObjectType, GraphQLSchema, SelectionSetNode
from sqlmodel import SQLModel

from kra_graphql.db import table_of
from kra_graphql.graphql.context import Context
from kra_graphql.graphql.plans import plain_attribute
from kra_graphql.graphql.selection import Fragments, below, selected
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

CAREER = (
    "starts_total",
    "wins_total",
    "seconds_total",
    "thirds_total",
    "starts_year",
    "wins_year",
    "seconds_year",
    "thirds_year",
    "details_fetched_at",
)

# Fields whose value comes from columns other than the one of their own name.
READS: dict[tuple[str, str], tuple[str, ...]] = {
    ("Entry", "id"): ("race_id", "gate_number"),
    ("Entry", "race"): ("race_id",),
    ("Horse", "id"): ("horse_no",),
    ("Horse", "career"): CAREER,
    ("Horse", "entries"): ("horse_no",),
    ("Jockey", "id"): ("jockey_no",),
    ("Jockey", "career"): CAREER,
    ("Jockey", "entries"): ("jockey_no",),
    ("Trainer", "id"): ("trainer_no",),
    ("Trainer", "career"): CAREER,
    ("Trainer", "entries"): ("trainer_no",),
}


class EntryReads(NamedTuple):
    kinds: frozenset[PersonKind]  # the people selected
    needed: frozenset[str] | None  # `table.column` read; None: every column


def _columns(
    schema: GraphQLSchema,
    type_name: str,
    selection_sets: list[SelectionSetNode],
    fragments: Fragments,
) -> set[str] | None:
    model = _MODELS[type_name]
    table = table_of(model)
    graphql_type = schema.get_type(type_name)
    assert isinstance(graphql_type, GraphQLObjectType)
    needed: set[str] = set()
    for name, under in selected(selection_sets, fragments).items():
        if name == "__typename":
            continue
        if type_name == "Entry" and name in PEOPLE:
            person = _columns(schema, PEOPLE[name], under, fragments)
            if person is None:
                return None
            needed |= person
            continue
        reads = READS.get((type_name, name))
        if reads is None:
            field = graphql_type.fields.get(name)
            attribute = plain_attribute(field) if field is not None else None
            if attribute is None or attribute not in table.columns:
                return None
            reads = (attribute,)
        needed.update(f"{table.name}.{column}" for column in reads)
    return needed


PROJECTION_CACHE_SIZE = 1024
# By the field nodes of the entries field (the parsed document is cached, so the same
# query brings the same nodes); the nodes are kept so that their ids stay unique.
_known: dict[tuple[int, ...], tuple[tuple[FieldNode, ...], EntryReads]] = {}


def entry_reads(info: strawberry.Info[Context, None], *, placed: bool = False) -> EntryReads:
    """What a list of entries must read for the selection under this field. Placed
    entries are sorted by finishing position, which is then read too."""
    raw = info._raw_info
    nodes = tuple(raw.field_nodes)
    key = (*map(id, nodes), placed)
    hit = _known.get(key)
    if hit is not None and all(map(operator.is_, hit[0], nodes)):
        return hit[1]
    sets = below(info)
    kinds = frozenset(name for name in selected(sets, raw.fragments) if name in PEOPLE)
    columns = _columns(raw.schema, "Entry", sets, raw.fragments)
    if columns is not None and placed:
        columns.add("entries.finish_position")
    reads = EntryReads(
        frozenset(kind for kind in PEOPLE if kind in kinds),
        frozenset(columns) if columns is not None else None,
    )
    if len(_known) >= PROJECTION_CACHE_SIZE:
        _known.clear()
    _known[key] = (nodes, reads)
    return reads
