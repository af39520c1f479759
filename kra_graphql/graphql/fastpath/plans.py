"""Completion plans: one compiled function per selection of plain fields.

A page of races carries a few hundred entries, each with its horse and jockey: about
2,000 fields that are all plain attribute reads. Even with the fast leaf path of
`execution.py`, completing them one field at a time through the executor (an object
completion, a grouped field set, a path and a result dict per object) was the largest
share of a cold read. Where a field's whole sub-selection consists of plain fields (no
resolver, no arguments, no directives anywhere below), its completion depends only on the
query document and the schema, so it is compiled once into a Python function that builds
the answer with attribute reads and dict literals, and reused for every request with the
same document.

A plan never reports errors itself: anything it does not expect (a null in a non-null
field, a value of another type, an awaitable, a missing attribute, a value that does not
coerce) raises `Fallback`, and the caller completes the same value the stock way, which
then reports exactly what graphql-core would. Reading plain attributes twice has no side
effects, so the fallback is always safe.

Private names used: graphql-core's `graphql.execution.collect_fields` (`FieldDetailsList`,
`FragmentDetails`, `GroupedFieldSet`, `defer_usage`, `fragment_variable_values`);
Strawberry's `GraphQLCoreConverter.DEFINITION_BACKREF`, `StrawberryField.is_basic_field`
and `default_resolver`. Checked against graphql-core 3.3.2 and strawberry-graphql 0.341.2.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLString,
    InlineFragmentNode,
    SelectionSetNode,
    Undefined,
)
from graphql.execution.collect_fields import FieldDetailsList, FragmentDetails, GroupedFieldSet
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.field import StrawberryField

from kra_graphql.graphql.rowview import row_attribute

Plan = Callable[[Any], Any]
CollectSubfields = Callable[[GraphQLObjectType, FieldDetailsList], GroupedFieldSet]


class Fallback(Exception):
    """The plan met something unusual: complete this value the stock way."""


_FALLBACK = Fallback()


def _strict(coerce: Callable[[Any], Any], value: Any) -> Any:
    """A leaf coerced as `complete_leaf_value` would, or a fallback where it would fail."""
    try:
        coerced = coerce(value)
    except Exception:
        raise _FALLBACK from None
    if coerced is None or coerced is Undefined:
        raise _FALLBACK
    return coerced


# The built-in scalars' output coercion returns these values unchanged: test for them
# inline and call the coercion only for anything else.
_UNCHANGED: dict[GraphQLScalarType, str] = {
    GraphQLString: "type({v}) is str",
    GraphQLID: "type({v}) is str",
    GraphQLBoolean: "type({v}) is bool",
    GraphQLInt: "type({v}) is int and -2147483648 <= {v} <= 2147483647",
    GraphQLFloat: "type({v}) is float and _isfinite({v})",
}


def plain_attribute(field: GraphQLField) -> str | None:
    """The Python attribute behind a field Strawberry resolves with a bare getattr: no
    resolver, no field extension, no arguments."""
    definition = field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField) or not definition.is_basic_field:
        return None
    if definition.default_resolver is not getattr or field.args:
        return None
    attribute: str = definition.python_name
    return attribute if attribute.isidentifier() else None


def _has_directives(
    selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDetails]
) -> bool:
    """Whether a directive appears anywhere below: its effect may depend on variables."""
    if selection_set is None:
        return False
    for selection in selection_set.selections:
        if selection.directives:
            return True
        if isinstance(selection, FieldNode | InlineFragmentNode):
            if _has_directives(selection.selection_set, fragments):
                return True
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is None or fragment.definition.directives:
                return True
            if _has_directives(fragment.definition.selection_set, fragments):
                return True
    return False


def _stable(field_details_list: FieldDetailsList, fragments: dict[str, FragmentDetails]) -> bool:
    """Whether the sub-selection collects to the same fields whatever the variables."""
    return all(
        details.defer_usage is None
        and details.fragment_variable_values is None
        and not _has_directives(details.node.selection_set, fragments)
        for details in field_details_list
    )


class _Unplannable(Exception):
    pass


class _Compiler:
    """Writes the source of one plan: a function per object type and list in it."""

    def __init__(self, collect_subfields: CollectSubfields) -> None:
        self.collect_subfields = collect_subfields
        self.functions: list[str] = []
        self.names: dict[str, Any] = {
            "_FALLBACK": _FALLBACK,
            "_strict": _strict,
            "_isfinite": math.isfinite,
        }
        self.counter = 0

    def name(self) -> str:
        self.counter += 1
        return f"_n{self.counter}"

    def bind(self, value: Any) -> str:
        """A global name in the generated code for a Python value."""
        name = self.name()
        self.names[name] = value
        return name

    def _complete(
        self, type_: GraphQLOutputType, details: FieldDetailsList, v: str, indent: str
    ) -> Iterator[str]:
        """Lines completing the value in local `v` in place (a null stays where allowed)."""
        non_null = isinstance(type_, GraphQLNonNull)
        named = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        if isinstance(named, GraphQLScalarType | GraphQLEnumType):
            coerce = self.bind(named.coerce_output_value)
            unchanged = _UNCHANGED.get(named) if isinstance(named, GraphQLScalarType) else None
            test = f"not ({unchanged.format(v=v)})" if unchanged else "True"
            if not non_null:
                test = f"{v} is not None and {test}"
            yield f"{indent}if {test}:"
            yield f"{indent}    {v} = _strict({coerce}, {v})"
            return
        if isinstance(named, GraphQLObjectType | GraphQLList):
            function = (
                self.object_function(named, details)
                if isinstance(named, GraphQLObjectType)
                else self.list_function(named, details)
            )
            if non_null:
                yield f"{indent}{v} = {function}({v})"
            else:
                yield f"{indent}if {v} is not None:"
                yield f"{indent}    {v} = {function}({v})"
            return
        raise _Unplannable  # interfaces and unions: the stock path resolves the type

    def object_function(self, object_type: GraphQLObjectType, details: FieldDetailsList) -> str:
        grouped = self.collect_subfields(object_type, details)
        definition = object_type.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
        if not isinstance(definition, StrawberryObjectDefinition):
            raise _Unplannable
        exact_class = self.bind(definition.origin)
        name = self.name()
        body: list[str] = [
            f"def {name}(value):",
            # Exactly the type's own class: what the reads below assume (a row view's
            # `row`, for one). Anything else, a subclass included, goes the stock way.
            f"    if type(value) is not {exact_class}:",
            "        raise _FALLBACK",
        ]
        entries: list[str] = []
        for index, (response_name, field_details) in enumerate(grouped.items()):
            field_name = field_details[0].node.name.value
            if field_name == "__typename":
                entries.append(f"{response_name!r}: {object_type.name!r}")
                continue
            field = object_type.fields.get(field_name)
            attribute = plain_attribute(field) if field is not None else None
            if field is None or attribute is None:
                raise _Unplannable
            local = f"f{index}"
            body.append(f"    {local} = value.{row_attribute(definition.origin, attribute)}")
            body.extend(self._complete(field.type, field_details, local, "    "))
            entries.append(f"{response_name!r}: {local}")
        body.append("    return {" + ", ".join(entries) + "}")
        self.functions.append("\n".join(body))
        return name

    def list_function(self, list_type: GraphQLList[Any], details: FieldDetailsList) -> str:
        name = self.name()
        body = [
            f"def {name}(value):",
            "    if type(value) is not list and type(value) is not tuple:",
            "        raise _FALLBACK",
            "    completed = []",
            "    for item in value:",
            *self._complete(list_type.of_type, details, "item", "        "),
            "        completed.append(item)",
            "    return completed",
        ]
        self.functions.append("\n".join(body))
        return name

    def build(self, type_: GraphQLOutputType, details: FieldDetailsList) -> Plan:
        top = ["def plan(value):", *self._complete(type_, details, "value", "    ")]
        self.functions.append("\n".join([*top, "    return value"]))
        namespace = dict(self.names)
        source = "\n\n".join(self.functions)
        exec(compile(source, "<completion plan>", "exec"), namespace)  # noqa: S102
        plan: Plan = namespace["plan"]
        return plan


def compile_plan(
    return_type: GraphQLOutputType,
    details: FieldDetailsList,
    fragments: dict[str, FragmentDetails],
    collect_subfields: CollectSubfields,
) -> Plan | None:
    """A plan completing values of `return_type` for this selection, or None where some
    field below needs the executor (a resolver, arguments, an abstract type, directives)."""
    named = return_type
    while isinstance(named, GraphQLNonNull | GraphQLList):
        named = named.of_type
    if not isinstance(named, GraphQLObjectType) or not _stable(details, fragments):
        return None
    try:
        return _Compiler(collect_subfields).build(return_type, details)
    except _Unplannable:
        return None
