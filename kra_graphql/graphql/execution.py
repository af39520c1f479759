"""Executing plain scalar fields without graphql-core's per-field machinery.

Most fields of a big answer are leaves read straight off an attribute (`gateNumber`,
`name`, `winOdds`). graphql-core resolves each through a resolver, a `GraphQLResolveInfo`,
a `Path`, argument coercion and `complete_value`: about 4 µs a field, most of a large
query's CPU. For fields that Strawberry itself resolves with a bare `getattr` (no
resolver, no field extension) and whose type is a scalar or enum, this executor reads
the attribute and coerces it the way `complete_leaf_value` would. Anything unusual — a
missing attribute, a null in a non-null field, a value that does not coerce — goes
down graphql-core's own path, so errors and their locations stay exactly as before.
It depends on graphql-core's executor internals (`execute_fields`): graphql-core is
pinned to a minor version, and a test compares this executor's answers byte for byte
with the stock executor's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    Undefined,
)
from graphql.execution.collect_fields import GroupedFieldSet
from graphql.pyutils import AwaitableOrValue, Path, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField


class _Leaf(NamedTuple):
    attribute: str
    coerce: Callable[[Any], Any]
    nullable: bool


_leaves_by_type: dict[GraphQLObjectType, dict[str, _Leaf]] = {}


def _leaf(field: GraphQLField) -> _Leaf | None:
    definition = field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField) or not definition.is_basic_field:
        return None
    if definition.default_resolver is not getattr or field.args:
        return None
    field_type = field.type
    nullable = not isinstance(field_type, GraphQLNonNull)
    named = field_type.of_type if isinstance(field_type, GraphQLNonNull) else field_type
    if not isinstance(named, GraphQLScalarType | GraphQLEnumType):
        return None
    return _Leaf(definition.python_name, named.coerce_output_value, nullable)


def leaves_of(parent_type: GraphQLObjectType) -> dict[str, _Leaf]:
    leaves = _leaves_by_type.get(parent_type)
    if leaves is None:
        leaves = {}
        for name, field in parent_type.fields.items():
            leaf = _leaf(field)
            if leaf is not None:
                leaves[name] = leaf
        _leaves_by_type[parent_type] = leaves
    return leaves


_MISSING = object()


class FastLeafExecutor(StrawberryGraphQLCoreExecutionContext):
    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        middleware = self.middleware_manager
        # Field middleware must see every field, leaves included.
        leaves = leaves_of(parent_type) if not (middleware and middleware.middlewares) else {}
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list in grouped_field_set.items():
                leaf = leaves.get(field_details_list[0].node.name.value)
                if leaf is not None:
                    value = getattr(source_value, leaf.attribute, _MISSING)
                    if value is None:
                        if leaf.nullable:
                            results[response_name] = None
                            continue
                    elif value is not _MISSING and value is not Undefined:
                        try:
                            coerced = leaf.coerce(value)
                        except Exception:  # the stock path below reports it
                            coerced = None
                        if coerced is not None and coerced is not Undefined:
                            results[response_name] = coerced
                            continue
                result = self.execute_field(
                    parent_type,
                    source_value,
                    field_details_list,
                    Path(path, response_name, parent_type.name),
                    position_context,
                )
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results
        return _gather(results, awaitable_fields)


async def _gather(results: dict[str, Any], awaitable_fields: list[str]) -> dict[str, Any]:
    if len(awaitable_fields) == 1:
        field = awaitable_fields[0]
        results[field] = await results[field]
    else:
        awaited = await gather_with_cancel(*(results[field] for field in awaitable_fields))
        results.update(zip(awaitable_fields, awaited, strict=True))
    return results
