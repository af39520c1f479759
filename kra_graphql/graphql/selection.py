"""What the query asks for below the field being resolved."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import strawberry
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)

from kra_graphql.graphql.context import Context

Fragments = Mapping[str, FragmentDefinitionNode]


def selected(
    selection_sets: Iterable[SelectionSetNode], fragments: Fragments
) -> dict[str, list[SelectionSetNode]]:
    """The fields selected directly in these selection sets, through fragments too, each
    with the selection sets under it (several where a field is selected more than once).
    Directives are not evaluated: a field under `@skip` counts as selected."""
    fields: dict[str, list[SelectionSetNode]] = {}
    pending = list(selection_sets)
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                below = fields.setdefault(selection.name.value, [])
                if selection.selection_set is not None:
                    below.append(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    pending.append(fragment.selection_set)
    return fields


def below(info: strawberry.Info[Context, None]) -> list[SelectionSetNode]:
    """The selection sets of the field being resolved."""
    return [node.selection_set for node in info._raw_info.field_nodes if node.selection_set]


def subfield_names(info: strawberry.Info[Context, None]) -> set[str]:
    """Names of the fields selected directly under this one, through fragments too.

    Strawberry's `selected_fields` converts the whole subtree with its arguments; a
    resolver deciding what to load ahead only needs the names one level down."""
    return set(selected(below(info), info._raw_info.fragments))
