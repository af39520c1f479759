"""The fast path answers byte for byte what stock Strawberry and graphql-core answer.

Documents are generated from schema.graphql (hypothesis-graphql), valid ones and ones
breaking the schema in one place, then rewritten at random: root fields moved into a
named fragment or an inline one, fields aliased, literal arguments turned into
variables. Each runs in process on the same races with every fast-path piece on, and
with none, and the two answers must be the same bytes, errors included. (The fixed
documents of tests/test_execution.py compare the two over pages of races with their
entries and people.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import graphql
import orjson
import pytest
from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    NamedTypeNode,
    NameNode,
    OperationDefinitionNode,
    SelectionSetNode,
    TypeInfo,
    TypeInfoVisitor,
    VariableDefinitionNode,
    VariableNode,
    Visitor,
    is_enum_type,
    parse_type,
    value_from_ast_untyped,
    visit,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode
from hypothesis_graphql import strategies as gql_st

from kra_graphql.graphql.context import Context
from kra_graphql.graphql.fastpath import OFF, ON
from kra_graphql.graphql.schema import Schema, schema_for
from kra_graphql.runtime import Runtime
from tests.factories import Seeded, remove, seed_races, unused_day
from tests.support import runtime_only_services
from tests.test_fuzz import CUSTOM_SCALARS, SDL

FAST = schema_for(ON)
STOCK = schema_for(OFF)
# Every root query field but `health`, whose worker and job counts move on their own.
ROOTS = [name for name in FAST._schema.query_type.fields if name != "health"]  # type: ignore[union-attr]


@pytest.fixture(scope="module")
async def seeded(runtime: Runtime) -> AsyncIterator[Seeded]:
    seeded = await seed_races(runtime, days=[unused_day()], meets=(1, 2), runners=4)
    yield seeded
    await remove(runtime, seeded)


async def _answer(runtime: Runtime, schema: Schema, query: str, variables: Any) -> bytes:
    context = Context(runtime_only_services(runtime))
    try:
        result = await schema.execute(query, variable_values=variables, context_value=context)
    finally:
        await context.close()
    errors = []
    for error in result.errors or []:
        formatted: dict[str, Any] = dict(error.formatted)
        # An internal error's id is drawn per error.
        extensions: dict[str, Any] = formatted.get("extensions") or {}
        formatted["extensions"] = {
            key: value for key, value in extensions.items() if key != "errorId"
        }
        errors.append(formatted)
    return orjson.dumps({"data": result.data, "errors": errors})


def _in_fragment(document: DocumentNode) -> DocumentNode:
    """`{ a b }` as `{ ...Q } fragment Q on Query { a b }`."""
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    fragment = FragmentDefinitionNode(
        name=NameNode(value="Q"),
        type_condition=NamedTypeNode(name=NameNode(value="Query")),
        selection_set=operation.selection_set,
    )
    spread = FragmentSpreadNode(name=NameNode(value="Q"))
    root = OperationDefinitionNode(
        operation=operation.operation,
        variable_definitions=operation.variable_definitions,
        selection_set=SelectionSetNode(selections=(spread,)),
    )
    return DocumentNode(definitions=(root, fragment))


def _inline(document: DocumentNode) -> DocumentNode:
    """`{ a b }` as `{ ... on Query { a b } }`."""
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    inline = InlineFragmentNode(
        type_condition=NamedTypeNode(name=NameNode(value="Query")),
        selection_set=operation.selection_set,
    )
    root = OperationDefinitionNode(
        operation=operation.operation, selection_set=SelectionSetNode(selections=(inline,))
    )
    return DocumentNode(definitions=(root,))


class _Aliases(Visitor):
    """Every other field gets an alias."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def enter_field(self, node: FieldNode, *_args: object) -> FieldNode:
        self.count += 1
        if self.count % 2:
            return node
        alias = NameNode(value=f"a{self.count}_{node.name.value}")
        return FieldNode(
            alias=alias,
            name=node.name,
            arguments=node.arguments,
            directives=node.directives,
            selection_set=node.selection_set,
        )


class _Variables(Visitor):
    """Literal arguments of built-in scalar types (and lists of them) become variables."""

    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        self.definitions: list[VariableDefinitionNode] = []
        self.values: dict[str, Any] = {}

    def enter_argument(self, node: ArgumentNode, *_args: object) -> ArgumentNode:
        argument = self.type_info.get_argument()
        if argument is None or is_enum_type(graphql.get_named_type(argument.type)):
            return node
        if graphql.get_named_type(argument.type).name not in {"Int", "Float", "String", "Boolean"}:
            return node
        name = f"v{len(self.definitions)}"
        self.values[name] = value_from_ast_untyped(node.value)
        self.definitions.append(
            VariableDefinitionNode(
                variable=VariableNode(name=NameNode(value=name)),
                type=parse_type(str(argument.type)),
            )
        )
        return ArgumentNode(name=node.name, value=VariableNode(name=NameNode(value=name)))


def _with_variables(document: DocumentNode) -> tuple[DocumentNode, dict[str, Any]]:
    type_info = TypeInfo(FAST._schema)
    variables = _Variables(type_info)
    changed = visit(document, TypeInfoVisitor(type_info, variables))
    operation = changed.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    with_definitions = OperationDefinitionNode(
        operation=operation.operation,
        variable_definitions=tuple(variables.definitions),
        selection_set=operation.selection_set,
    )
    return DocumentNode(definitions=(with_definitions,)), variables.values


def _rewritten(document: DocumentNode, how: str) -> tuple[str, dict[str, Any] | None]:
    if how == "variables":
        with_variables, values = _with_variables(document)
        return graphql.print_ast(with_variables), values
    if how == "aliases":
        return graphql.print_ast(visit(document, _Aliases())), None
    if how == "fragment":
        return graphql.print_ast(_in_fragment(document)), None
    if how == "inline":
        return graphql.print_ast(_inline(document)), None
    return graphql.print_ast(document), None


EQUIVALENCE = settings(
    max_examples=120,
    deadline=None,
    database=None,
    phases=[Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
REWRITES = st.sampled_from(["as generated", "variables", "aliases", "fragment", "inline"])


def _documents(mode: Mode) -> st.SearchStrategy[Any]:
    return gql_st.queries(
        SDL, fields=ROOTS, custom_scalars=CUSTOM_SCALARS, print_ast=lambda ast: ast, mode=mode
    )


@pytest.mark.parametrize("mode", [Mode.POSITIVE, Mode.NEGATIVE])
async def test_the_fast_path_answers_what_stock_strawberry_answers(
    runtime: Runtime, seeded: Seeded, mode: Mode
) -> None:
    loop = asyncio.get_running_loop()
    compared: list[bytes] = []

    def answer(schema: Schema, query: str, variables: dict[str, Any] | None) -> bytes:
        running = asyncio.run_coroutine_threadsafe(_answer(runtime, schema, query, variables), loop)
        return running.result(timeout=60)

    @EQUIVALENCE
    @given(document=_documents(mode), how=REWRITES)
    def same_bytes(document: DocumentNode, how: str) -> None:
        query, variables = _rewritten(document, how)
        fast = answer(FAST, query, variables)
        assert fast == answer(STOCK, query, variables), query
        compared.append(fast)

    # Hypothesis drives the examples from a thread; they run on this test's event loop,
    # where the database connections live.
    await asyncio.to_thread(same_bytes)
    assert len(compared) >= 100
    if mode is Mode.POSITIVE:
        # The documents reach the resolvers, not only errors.
        answered = [answer for answer in compared if answer.endswith(b'"errors":[]}')]
        assert len(answered) >= 20
