"""What the query asks for below the field being resolved."""

from __future__ import annotations

import strawberry
from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode

from kra_graphql.graphql.context import Context


def subfield_names(info: strawberry.Info[Context, None]) -> set[str]:
    """Names of the fields selected directly under this one, through fragments too.

    Strawberry's `selected_fields` converts the whole subtree with its arguments; a
    resolver deciding what to load ahead only needs the names one level down."""
    raw = info._raw_info
    names: set[str] = set()
    pending: list[SelectionSetNode] = [
        node.selection_set for node in raw.field_nodes if node.selection_set is not None
    ]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                names.add(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = raw.fragments.get(selection.name.value)
                if fragment is not None:
                    pending.append(fragment.selection_set)
    return names
