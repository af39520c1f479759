"""The fields below the field being resolved, read from graphql-core's nodes, and what is
computed from them remembered per document.

Strawberry's `selected_fields` converts the whole subtree with its arguments for every
resolver call; a page of twenty races asked it twenty times for the same answer. The
parser cache hands out the same nodes for the same query text, so a result computed
from them is kept by their identity (the nodes are kept too, so their ids stay unique).

Private names used: Strawberry's `Info._raw_info` (graphql-core's `field_nodes` and
`fragments`). Checked against strawberry-graphql 0.341.2 and graphql-core 3.3.2.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, TypeVar

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)

from kra_graphql.lru import LRU

Tree = dict[str, "Tree"]
T = TypeVar("T")

REMEMBERED = 1024
# By `key` and the identity of the field's nodes, which the entry holds.
_known: LRU[tuple[Hashable, ...], tuple[tuple[FieldNode, ...], Any]] = LRU(REMEMBERED)


def remembered(info: Any, key: Hashable, compute: Callable[[Tree], T]) -> T:
    raw = info._raw_info
    nodes = tuple(raw.field_nodes)
    memo_key = (key, *map(id, nodes))
    hit = _known.get(memo_key)
    if hit is not None and all(map(operator.is_, hit[0], nodes)):
        found: T = hit[1]
        return found
    sets = [node.selection_set for node in nodes if node.selection_set is not None]
    value = compute(_tree(sets, raw.fragments, {}))
    _known.put(memo_key, (nodes, value))
    return value


def _tree(
    sets: Iterable[SelectionSetNode], fragments: Mapping[str, FragmentDefinitionNode], into: Tree
) -> Tree:
    for selection_set in sets:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                below = into.setdefault(selection.name.value, {})
                if selection.selection_set is not None:
                    _tree([selection.selection_set], fragments, below)
            elif isinstance(selection, InlineFragmentNode):
                _tree([selection.selection_set], fragments, into)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    _tree([fragment.selection_set], fragments, into)
    return into
