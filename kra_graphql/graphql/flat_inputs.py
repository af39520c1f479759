"""Input objects made only of scalars, enums and lists of them, built in one step.

Strawberry converts an input value field by field, resolving every field's type again
on each request; for a mutation's input that was a tenth of its CPU. graphql-core has
already coerced such values to what the Python class holds, so the class is built
straight from them through Strawberry's own `from_input` hook. A type with any other
kind of field (a nested input, `Maybe`, a global id) keeps Strawberry's conversion.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import strawberry
from strawberry.types.arguments import InputContext
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryObjectDefinition,
    StrawberryOptional,
    has_object_definition,
)
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition

_SCALARS: frozenset[object] = frozenset({str, int, float, bool, strawberry.ID})

FromInput = Callable[[type, Mapping[str, Any], InputContext], Any]


def build_flat_inputs(*classes: type) -> None:
    """Give each class that qualifies a one-step builder."""
    for cls in classes:
        assert has_object_definition(cls), cls
        definition = cls.__strawberry_definition__
        builder = _builder(definition)
        if builder is not None:
            definition.from_input = builder


def _leaf(type_: object) -> bool:
    return (
        type_ in _SCALARS
        or has_enum_definition(type_)
        or isinstance(type_, StrawberryEnumDefinition)
    )


def _shape(type_: object) -> str | None:
    """ "value" or "list" for a field that needs no conversion, else None."""
    if isinstance(type_, StrawberryMaybe):
        return None
    if isinstance(type_, StrawberryOptional):
        type_ = type_.of_type
    if isinstance(type_, StrawberryList):
        item = type_.of_type
        if isinstance(item, StrawberryOptional) and not isinstance(item, StrawberryMaybe):
            item = item.of_type
        return "list" if _leaf(item) else None
    return "value" if _leaf(type_) else None


def _builder(definition: StrawberryObjectDefinition) -> FromInput | None:
    lists: list[bool] = []
    for field in definition.fields:
        shape = _shape(field.resolve_type(type_definition=definition))
        if shape is None:
            return None
        lists.append(shape == "list")
    # As Strawberry does: a field without a default is None until the value fills it.
    required = {
        field.python_name: None
        for field in definition.fields
        if field.default_value is dataclasses.MISSING
        and field.default_factory is dataclasses.MISSING
    }
    names: list[tuple[str, str, bool]] = []

    def from_input(cls: type, value: Mapping[str, Any], context: InputContext) -> Any:
        if not names:
            # GraphQL names come from the schema's name converter, known at the first call.
            converter = context.config.name_converter
            names.extend(
                (converter.from_field(field), field.python_name, is_list)
                for field, is_list in zip(definition.fields, lists, strict=True)
            )
        kwargs: dict[str, Any] = dict(required)
        for graphql_name, python_name, is_list in names:
            if graphql_name in value:
                item = value[graphql_name]
                # A list is copied: graphql-core hands the same default to every request.
                kwargs[python_name] = list(item) if is_list and item is not None else item
        return cls(**kwargs)

    return from_input
