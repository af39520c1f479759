"""What the query asks for below the field being resolved, as a tree of field names.

Read from Strawberry's `info.selected_fields`; with the fast path's `selection` piece,
from graphql-core's nodes and remembered per document (fastpath/selection.py), since a
page of races asks the same of each of its twenty races. Directives are not evaluated:
a field under `@skip` counts as selected.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from kra_graphql.graphql.fastpath import OFF
from kra_graphql.graphql.fastpath.selection import remembered

# Each selected field's name, with what is selected below it.
Tree = dict[str, "Tree"]
T = TypeVar("T")


def from_selection(info: Any, key: Hashable, compute: Callable[[Tree], T]) -> T:
    """`compute` over the fields below the field being resolved. Its result may be reused
    for every field with the same selection in the same document: `key` tells apart
    what differs otherwise."""
    if getattr(info.schema, "fast_path", OFF).selection:
        return remembered(info, key, compute)
    # `selected_fields` holds the field being resolved itself, once per node of it.
    tree: Tree = {}
    for field in info.selected_fields:
        _tree(field.selections, tree)
    return compute(tree)


def _tree(selections: Iterable[Selection], into: Tree | None = None) -> Tree:
    tree: Tree = {} if into is None else into
    for selection in selections:
        if isinstance(selection, SelectedField):
            _tree(selection.selections, tree.setdefault(selection.name, {}))
        elif isinstance(selection, FragmentSpread | InlineFragment):
            _tree(selection.selections, tree)
    return tree
