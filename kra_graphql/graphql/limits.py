"""Bounds on the shape of a document: tokens, depth, aliases, and introspection on or off.

Depth and aliases are measured in one pass over the document with each fragment measured
once. (Strawberry's QueryDepthLimiter and MaxAliasesLimiter walk a fragment again at
every spread, which takes exponential time on fragments that spread each other twice:
eighteen such fragments already cost a second of validation.) Aliases are counted with
multiplicity, since a fragment spread twice runs its aliased fields twice.

The rules are built once per combination of limits, so the validation cache, which is
keyed by the rules, keeps hitting.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValidationRule,
    ValueNode,
    get_named_type,
    is_introspection_type,
)
from graphql.language import SKIP, VisitorAction
from starlette.requests import Request
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from kra_graphql.config import Settings
from kra_graphql.errors import BadUserInput, ErrorCode
from kra_graphql.graphql.context import Context
from kra_graphql.graphql.document import parse_limits
from kra_graphql.lru import LRU

_DEFAULTS = Settings.model_fields
# graphql-core's own words for a document over the token limit.
TOKEN_LIMIT_MESSAGE = "Document contains more than"  # noqa: S105 - not a password


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int
    max_aliases: int
    max_tokens: int
    introspection: bool

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_query_aliases,
            max_tokens=settings.max_query_tokens,
            introspection=settings.introspection_enabled,
        )


# For execution without a server context (tools, in-process tests).
DEFAULT_LIMITS = Limits(
    max_depth=_DEFAULTS["max_query_depth"].default,
    max_aliases=_DEFAULTS["max_query_aliases"].default,
    max_tokens=_DEFAULTS["max_query_tokens"].default,
    introspection=True,
)


def _limit_error(message: str, limit: str, nodes: Any = None) -> GraphQLError:
    return GraphQLError(
        message,
        nodes,
        extensions={"code": ErrorCode.BAD_USER_INPUT.value, "field": "query", "limit": limit},
    )


class _Measure:
    """Depth and alias count of selection sets, each fragment measured once."""

    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode]) -> None:
        self._fragments = fragments
        self._known: dict[str, tuple[int, int]] = {}
        self._open: set[str] = set()

    def selections(self, selection_set: SelectionSetNode | None) -> tuple[int, int]:
        depth = aliases = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                inner_depth, inner_aliases = self.selections(selection.selection_set)
                aliases += inner_aliases + (1 if selection.alias else 0)
                # Introspection nests as deep as type wrappers go, bounded by the schema:
                # it is allowed or refused whole, not measured.
                if not selection.name.value.startswith("__"):
                    depth = max(depth, 1 + inner_depth)
            elif isinstance(selection, InlineFragmentNode):
                inner_depth, inner_aliases = self.selections(selection.selection_set)
                depth, aliases = max(depth, inner_depth), aliases + inner_aliases
            elif isinstance(selection, FragmentSpreadNode):
                inner_depth, inner_aliases = self.fragment(selection.name.value)
                depth, aliases = max(depth, inner_depth), aliases + inner_aliases
        return depth, aliases

    def fragment(self, name: str) -> tuple[int, int]:
        known = self._known.get(name)
        if known is not None:
            return known
        fragment = self._fragments.get(name)
        if fragment is None or name in self._open:
            return 0, 0  # unknown or cyclic: other rules report those
        self._open.add(name)
        measured = self.selections(fragment.selection_set)
        self._open.discard(name)
        self._known[name] = measured
        return measured


@cache
def _shape_rule(max_depth: int, max_aliases: int) -> type[ASTValidationRule]:
    class OperationShape(ValidationRule):
        def enter_document(self, node: DocumentNode, *_args: object) -> VisitorAction:
            fragments = {
                d.name.value: d for d in node.definitions if isinstance(d, FragmentDefinitionNode)
            }
            measure = _Measure(fragments)
            total_aliases = 0
            for operation in node.definitions:
                if not isinstance(operation, OperationDefinitionNode):
                    continue
                depth, aliases = measure.selections(operation.selection_set)
                total_aliases += aliases
                if depth > max_depth:
                    self.report_error(
                        _limit_error(
                            f"the operation nests {depth} levels deep; at most {max_depth}",
                            "depth",
                            operation,
                        )
                    )
            if total_aliases > max_aliases:
                self.report_error(
                    _limit_error(
                        f"the document has {total_aliases} aliases; at most {max_aliases}",
                        "aliases",
                    )
                )
            return SKIP

    return OperationShape


class NoIntrospection(ValidationRule):
    """graphql-core's NoSchemaIntrospectionCustomRule, with a typed error."""

    def enter_field(self, node: FieldNode, *_args: object) -> None:
        named = get_named_type(self.context.get_type())
        if named is not None and is_introspection_type(named):
            self.report_error(
                _limit_error("introspection is disabled on this server", "introspection", node)
            )


@cache
def validation_rules(limits: Limits) -> tuple[type[ASTValidationRule], ...]:
    shape = _shape_rule(limits.max_depth, limits.max_aliases)
    return (shape,) if limits.introspection else (shape, NoIntrospection)


def prepare_limits(execution: ExecutionContext) -> None:
    """Before parsing: the token limit, and the shape rules added to validation."""
    context = execution.context
    limits = Limits.of(context.runtime.settings) if isinstance(context, Context) else DEFAULT_LIMITS
    # Strawberry types these options as max_tokens only; graphql-core takes them all.
    cast(dict[str, Any], execution.parse_options).update(parse_limits(limits.max_tokens))
    execution.validation_rules = execution.validation_rules + validation_rules(limits)


def tag_token_limit_errors(execution: ExecutionContext) -> None:
    """Marks a document over the token limit as such (before error codes are given)."""
    result = execution.result
    if result is not None and result.errors:
        result.errors = [_tag_token_limit(error) for error in result.errors]


def check_operation(execution: ExecutionContext) -> None:
    """A subscription over plain HTTP, which Strawberry would answer with an internal
    error. (The transports refuse several unnamed operations: graphql/document.py.)"""
    context = execution.context
    if (
        execution.operation_type is OperationType.SUBSCRIPTION
        and isinstance(context, Context)
        and isinstance(context.request, Request)
    ):
        raise BadUserInput(
            "subscriptions are served over WebSocket (graphql-transport-ws or graphql-ws) "
            "at this same URL",
            field="query",
        )


def check_inputs(execution: ExecutionContext) -> None:
    """Text inputs and variables within bounds, before anything runs."""
    if execution.graphql_document is not None and execution.query is not None:
        literals = _literal_problem(execution.query, execution.graphql_document)
        problem = literals or _value_problem(execution.variables or {}, "")
        if problem is not None:
            field, message = problem
            raise BadUserInput(message, field=field)


def _tag_token_limit(error: GraphQLError) -> GraphQLError:
    if error.original_error is None and TOKEN_LIMIT_MESSAGE in error.message:
        return _limit_error(error.message, "tokens")
    return error


# Text no input needs: C0 controls other than tab and line breaks, DEL, and lone
# surrogates (PostgreSQL cannot store NUL, nor encode a surrogate).
_FORBIDDEN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
# Longer than any input needs (a prompt's text included); the body limit still applies.
MAX_INPUT_CHARS = 20_000
_CONTROL = "must not contain control characters"
_TOO_LONG = f"at most {MAX_INPUT_CHARS} characters"
Problem = tuple[str, str]
_literal_problems: LRU[str, Problem | None] = LRU(1024)
_UNKNOWN: Any = object()


def _text_problem(text: str, field: str) -> Problem | None:
    if len(text) > MAX_INPUT_CHARS:
        return field, _TOO_LONG
    if _FORBIDDEN_TEXT.search(text):
        return field, _CONTROL
    return None


def _value_problem(value: object, field: str) -> Problem | None:
    """The first unacceptable string in variables (JSON values), named by its path."""
    if isinstance(value, str):
        return _text_problem(value, field)
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{field}.{key}" if field else str(key)
            problem = _text_problem(str(key), name) or _value_problem(item, name)
            if problem is not None:
                return problem
    elif isinstance(value, list):
        for item in value:
            problem = _value_problem(item, field)
            if problem is not None:
                return problem
    return None


def _literal_problem(query: str, document: DocumentNode) -> Problem | None:
    """The first unacceptable string literal in the document; remembered per document."""
    found = _literal_problems.get(query, _UNKNOWN)
    if found is _UNKNOWN:
        found = next(
            (p for field, text in _literals(document) if (p := _text_problem(text, field))), None
        )
        _literal_problems.put(query, found)
    return cast(Problem | None, found)


def _literals(document: DocumentNode) -> Iterator[tuple[str, str]]:
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            for variable in definition.variable_definitions or ():
                if variable.default_value is not None:
                    yield from _strings(variable.default_value, variable.variable.name.value)
        if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
            yield from _selection_literals(definition.selection_set)


def _selection_literals(selection_set: SelectionSetNode | None) -> Iterator[tuple[str, str]]:
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            for argument in selection.arguments or ():
                yield from _strings(argument.value, argument.name.value)
            yield from _selection_literals(selection.selection_set)
        elif isinstance(selection, InlineFragmentNode):
            yield from _selection_literals(selection.selection_set)


def _strings(value: ValueNode, field: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, StringValueNode):
        yield field, value.value
    elif isinstance(value, ObjectValueNode):
        for item in value.fields:
            yield from _strings(item.value, f"{field}.{item.name.value}")
    elif isinstance(value, ListValueNode):
        for element in value.values:
            yield from _strings(element, field)
