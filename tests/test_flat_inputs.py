"""Input objects built in one step hold exactly what Strawberry's conversion builds."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    coerce_input_value,
)
from strawberry.types.arguments import convert_argument
from strawberry.types.base import has_object_definition

from kra_graphql.graphql import inputs
from tests.support import configured_schema

schema = configured_schema()

INPUT_CLASSES = [
    value
    for value in vars(inputs).values()
    if isinstance(value, type)
    and has_object_definition(value)
    and value.__strawberry_definition__.is_input
]
FLAT = [cls for cls in INPUT_CLASSES if cls.__strawberry_definition__.from_input is not None]
SAMPLES = {"String": "20250503", "Int": 3, "Float": 0.5, "Boolean": True, "ID": "race_1"}


def sample(type_: GraphQLInputType) -> Any:
    if isinstance(type_, GraphQLNonNull):
        return sample(type_.of_type)
    if isinstance(type_, GraphQLList):
        return [sample(type_.of_type), sample(type_.of_type)]
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    assert isinstance(type_, GraphQLScalarType), type_
    return SAMPLES[type_.name]


def values_for(graphql_type: GraphQLInputObjectType) -> list[dict[str, Any]]:
    """Every field given; only the required ones; every nullable one an explicit null."""
    fields = graphql_type.fields
    required = {n: sample(f.type) for n, f in fields.items() if isinstance(f.type, GraphQLNonNull)}
    nulls = {n: None for n, f in fields.items() if not isinstance(f.type, GraphQLNonNull)}
    return [{n: sample(f.type) for n, f in fields.items()}, required, {**required, **nulls}]


def strawberrys(cls: type, value: dict[str, Any]) -> Any:
    definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
    builder, definition.from_input = definition.from_input, None
    try:
        return convert_argument(value, cls, schema.schema_converter.scalar_registry, schema.config)
    finally:
        definition.from_input = builder


def test_the_inputs_of_mutations_and_filters_are_flat() -> None:
    names = {cls.__name__ for cls in FLAT}
    assert {"CollectRacesInput", "JobFilter", "RaceFilter", "EnrichRacesInput"} <= names


@pytest.mark.parametrize("cls", FLAT, ids=lambda cls: cls.__name__)
def test_a_flat_input_is_built_as_strawberry_builds_it(cls: type) -> None:
    graphql_type = schema._schema.get_type(cls.__strawberry_definition__.name)  # type: ignore[attr-defined]
    assert isinstance(graphql_type, GraphQLInputObjectType)
    for given in values_for(graphql_type):
        coerced = coerce_input_value(given, graphql_type)
        ours = convert_argument(
            coerced, cls, schema.schema_converter.scalar_registry, schema.config
        )
        theirs = strawberrys(cls, coerced)
        assert type(ours) is cls
        assert vars(ours) == vars(theirs), given
        for field in cls.__strawberry_definition__.fields:  # type: ignore[attr-defined]
            value = getattr(ours, field.python_name)
            if isinstance(value, list):
                sent = coerced[schema.config.name_converter.from_field(field)]
                assert value is not sent, "lists are copied"
