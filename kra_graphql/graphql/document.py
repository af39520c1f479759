"""Documents parsed once per distinct text, and what the operation to run in them is.

The HTTP guard, the response cache, Strawberry's parse step (`KnownDocument`),
authorization and the operation log all read the same parsed document and the same
analysis of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
)
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from kra_graphql.errors import BadUserInput

# Bounded, so distinct hostile documents cannot grow memory without limit.
DOCUMENT_CACHE_SIZE = 1024


@dataclass(frozen=True, slots=True)
class Operation:
    """What an operation is, as far as access, caching and metrics are concerned.
    `type` None: nothing executable was chosen."""

    type: OperationType | None
    fields: frozenset[str]
    name: str | None
    # Every root selection is a field (no fragment at the root).
    plain_roots: bool = False

    @property
    def is_mutation(self) -> bool:
        return self.type is OperationType.MUTATION

    @property
    def type_label(self) -> str:
        return self.type.value if self.type is not None else "invalid"


UNKNOWN = Operation(type=None, fields=frozenset(), name=None)


def parse_limits(max_tokens: int) -> dict[str, int]:
    """graphql-core's parse options, as `parse_document` passes them: tokens, and
    comments, which the token count skips."""
    return {"max_lexical_tokens": max_tokens, "max_comments": max_tokens}


def _token_limit(execution: ExecutionContext) -> int | None:
    """The token limit the pipeline's `prepare_limits` set before parsing."""
    limit = cast(dict[str, Any], execution.parse_options).get("max_lexical_tokens")
    return limit if isinstance(limit, int) else None


@lru_cache(maxsize=DOCUMENT_CACHE_SIZE)
def parse_document(query: str, max_tokens: int) -> DocumentNode | GraphQLError:
    """The document, or why it does not parse."""
    try:
        return parse(query, max_lexical_tokens=max_tokens, max_comments=max_tokens)
    except GraphQLError as error:
        return error


@lru_cache(maxsize=DOCUMENT_CACHE_SIZE)
def operation_of(query: str, operation_name: str | None, max_tokens: int) -> Operation:
    document = parse_document(query, max_tokens)
    if isinstance(document, GraphQLError):
        return UNKNOWN
    return analyze(document, operation_name)


def analyze(document: DocumentNode, operation_name: str | None) -> Operation:
    operations = _operations(document, operation_name)
    if len(operations) != 1:
        return UNKNOWN
    operation = operations[0]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return Operation(
        type=operation.operation,
        fields=frozenset(_root_fields(operation.selection_set, fragments, set())),
        name=operation.name.value if operation.name else None,
        plain_roots=all(isinstance(s, FieldNode) for s in operation.selection_set.selections),
    )


def operation_in(execution: ExecutionContext) -> Operation:
    """The operation Strawberry is running, as parsed here."""
    limit = _token_limit(execution)
    if execution.query is None or limit is None:
        return UNKNOWN
    return operation_of(execution.query, execution.operation_name, limit)


def unnamed_choice(query: str, operation_name: str | None, max_tokens: int) -> BadUserInput | None:
    """What the GraphQL over HTTP and WebSocket contracts refuse but Strawberry would run:
    the first of several operations when none is named."""
    if operation_name is not None:
        return None
    document = parse_document(query, max_tokens)
    if isinstance(document, GraphQLError) or len(_operations(document, None)) < 2:
        return None
    return BadUserInput(
        "the document holds several operations: name the one to run in operationName",
        field="operationName",
    )


def _operations(document: DocumentNode, name: str | None) -> list[OperationDefinitionNode]:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is not None:
        operations = [o for o in operations if o.name and o.name.value == name]
    return operations


def _root_fields(
    selections: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    visited: set[str],
) -> Iterable[str]:
    """Root fields, through fragments too: `mutation { ...M }` must not hide what M does."""
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            yield selection.name.value
        elif isinstance(selection, InlineFragmentNode):
            yield from _root_fields(selection.selection_set, fragments, visited)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name not in visited and name in fragments:
                visited.add(name)
                yield from _root_fields(fragments[name].selection_set, fragments, visited)


class KnownDocument(SchemaExtension):
    """Strawberry's parse step, from the documents parsed here. A document that does not
    parse is left to Strawberry, which reports the error like any other."""

    def on_parse(self) -> Iterator[None]:
        execution = self.execution_context
        limit = _token_limit(execution)
        if execution.query is not None and limit is not None:
            document = parse_document(execution.query, limit)
            if isinstance(document, DocumentNode):
                execution.graphql_document = document
        yield
