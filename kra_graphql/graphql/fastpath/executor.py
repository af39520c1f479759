"""Executing plain fields without graphql-core's per-field machinery.

Most fields of a big answer are leaves read straight off an attribute (`gateNumber`,
`name`, `winOdds`). graphql-core resolves each through a resolver, a `GraphQLResolveInfo`,
a `Path`, argument coercion and `complete_value`: about 4 µs a field, most of a large
query's CPU. For fields that Strawberry itself resolves with a bare `getattr` (no
resolver, no field extension), this executor reads the attribute and, for a scalar or
enum, coerces it the way `complete_leaf_value` would; for an object it goes straight on
to the object's own fields. Anything unusual (an awaitable, a missing attribute, a null
in a non-null field, a value that does not coerce) goes down graphql-core's own path,
so errors and their locations stay exactly as before (piece `leaves`). Where a field's
whole sub-selection is plain, its value is completed by a compiled plan instead
(`plans.py`, piece `plans`).
Subscriptions: the answer to one event is computed once per document and variables and
shared by every subscriber (piece `shared`).

Private names used: graphql-core's `ExecutionContext.execute_fields`, `complete_value`,
`execute_operation`, `build_per_event_executor`, `execute_field`,
`collect_and_execute_subfields`, `collect_subfields`, `handle_field_error`,
`settle_in_background`, `middleware_manager`, `async_helpers`, `fragments`,
`variable_values.coerced` and `graphql.execution.collect_fields`; Strawberry's
`StrawberryGraphQLCoreExecutionContext`. Checked against graphql-core 3.3.2 and
strawberry-graphql 0.341.2.
"""

from __future__ import annotations

import asyncio
import inspect
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple, cast

from graphql import (
    ExecutionResult,
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLResolveInfoHelpers,
    GraphQLScalarType,
    Undefined,
)
from graphql.execution import ExperimentalIncrementalExecutionResults
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import AwaitableOrValue, Path, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from kra_graphql.graphql.fastpath import FastPath
from kra_graphql.graphql.fastpath.plans import Fallback, Plan, compile_plan, plain_attribute
from kra_graphql.lru import IdentityLRU


class _Plain(NamedTuple):
    """A field Strawberry resolves with a bare getattr, and what its value needs."""

    attribute: str
    nullable: bool
    field_type: GraphQLOutputType  # for errors, reported as the stock path would
    coerce: Callable[[Any], Any] | None  # a scalar or enum: its output coercion
    object_type: GraphQLObjectType | None  # an object: the type whose fields come next


_plain_by_type: dict[GraphQLObjectType, dict[str, _Plain]] = {}


def _plain(field: GraphQLField) -> _Plain | None:
    attribute = plain_attribute(field)
    if attribute is None:
        return None
    field_type = field.type
    nullable = not isinstance(field_type, GraphQLNonNull)
    named = field_type.of_type if isinstance(field_type, GraphQLNonNull) else field_type
    if isinstance(named, GraphQLScalarType | GraphQLEnumType):
        return _Plain(attribute, nullable, field_type, named.coerce_output_value, None)
    if isinstance(named, GraphQLObjectType):
        return _Plain(attribute, nullable, field_type, None, named)
    return None


def plain_fields_of(parent_type: GraphQLObjectType) -> dict[str, _Plain]:
    plain = _plain_by_type.get(parent_type)
    if plain is None:
        plain = {}
        for name, field in parent_type.fields.items():
            found = _plain(field)
            if found is not None:
                plain[name] = found
        _plain_by_type[parent_type] = plain
    return plain


_MISSING: Any = object()

# Plans by return type and the field nodes they complete, across requests: the parser
# cache hands out the same document, and so the same nodes, for the same query text. The
# nodes are kept with their plan so that their ids stay unique while the entry exists.
PLAN_CACHE_SIZE = 2048
_plans: IdentityLRU[tuple[object, ...], Plan | None] = IdentityLRU(PLAN_CACHE_SIZE)


def _plan_for(
    executor: FastLeafExecutor, type_: GraphQLOutputType, details: FieldDetailsList
) -> Plan | None:
    key = (type_, *(field.node for field in details))
    known = _plans.get(key, _MISSING)
    if known is not _MISSING:
        return cast(Plan | None, known)
    plan = compile_plan(
        type_,
        details,
        executor.fragments,
        lambda object_type, sub: executor.collect_subfields(object_type, sub).grouped_field_set,
    )
    _plans.put(key, plan)
    return plan


class SharedAnswers:
    """Answers to one subscription event, kept on the event object that the hub hands to
    every subscriber: the first subscriber of a document computes the answer, the others
    with the same document and variables reuse it (a job's progress reaches hundreds of
    subscribers, and executing the selection set per subscriber was most of the cost).
    Subscribers run concurrently, so one that arrives while the answer is being computed
    waits for it rather than computing it again."""

    __slots__ = ("_by_document", "_pending")

    def __init__(self) -> None:
        self._by_document: dict[tuple[int, str], tuple[object, ExecutionResult]] = {}
        self._pending: dict[tuple[int, str], tuple[object, asyncio.Future[ExecutionResult | None]]]
        self._pending = {}

    def get(self, operation: object, variables: str) -> ExecutionResult | None:
        hit = self._by_document.get((id(operation), variables))
        # The entry holds the operation, so its id cannot be reused while it is here.
        return hit[1] if hit is not None and hit[0] is operation else None

    def pending(
        self, operation: object, variables: str
    ) -> asyncio.Future[ExecutionResult | None] | None:
        hit = self._pending.get((id(operation), variables))
        return hit[1] if hit is not None and hit[0] is operation else None

    def begin(self, operation: object, variables: str) -> None:
        future = asyncio.get_running_loop().create_future()
        self._pending[(id(operation), variables)] = (operation, future)

    def settle(self, operation: object, variables: str, result: ExecutionResult | None) -> None:
        """The answer, or None where it cannot be shared (the waiters compute their own)."""
        shareable = result if result is not None and not result.errors else None
        if shareable is not None:
            self.put(operation, variables, shareable)
        entry = self._pending.pop((id(operation), variables), None)
        if entry is not None and not entry[1].done():
            entry[1].set_result(shareable)

    def put(self, operation: object, variables: str, result: ExecutionResult) -> None:
        if not result.errors:  # an error may depend on the caller: never share one
            self._by_document[(id(operation), variables)] = (operation, result)
            if result.data is not None:
                _shared_data.put(result.data, None)


# Answers shared by many subscribers, with their JSON once it has been encoded.
SHARED_DATA = 256
_shared_data: IdentityLRU[object, bytes | None] = IdentityLRU(SHARED_DATA)


def shared_json(data: object, encode: Callable[[object], bytes]) -> bytes | None:
    """The encoded form of a shared answer, encoded on first use; None for any other data."""
    encoded = _shared_data.get(data, _MISSING)
    if encoded is _MISSING:
        return None
    if encoded is None:
        encoded = encode(data)
        _shared_data.put(data, encoded)
    return cast(bytes, encoded)


class _Answered:
    """Stands in for a per-event executor whose answer another subscriber computed."""

    __slots__ = ("result",)

    def __init__(self, result: ExecutionResult) -> None:
        self.result = result

    def execute_operation(self, serially: bool | None = None) -> ExecutionResult:
        return self.result


# Work tracked after its operation ended, kept until it has settled.
_SETTLING: set[asyncio.Future[list[Any]]] = set()


def _weak_helpers(executor: StrawberryGraphQLCoreExecutionContext) -> GraphQLResolveInfoHelpers:
    """graphql-core's resolver helpers are bound methods of the executor that holds them:
    a reference cycle that kept every request's executor, context and request alive until
    the cycle collector ran, so each young-generation collection freed hundreds of
    requests' worth at once. Reaching the executor through a weak reference, all of it
    goes with the request's last reference."""
    reference = weakref.ref(executor)

    def track(values: Sequence[Any]) -> None:
        alive = reference()
        if alive is not None:
            alive.track_async_work(values)
            return
        # The operation is over: settle what a resolver left behind, as the executor would.
        pending = [value for value in values if inspect.isawaitable(value)]
        if pending:
            settling = asyncio.gather(*pending, return_exceptions=True)
            _SETTLING.add(settling)
            settling.add_done_callback(_SETTLING.discard)

    # The executor's own gather is this function; it needs no executor.
    return GraphQLResolveInfoHelpers(gather=lambda values: gather_with_cancel(*values), track=track)


class FastLeafExecutor(StrawberryGraphQLCoreExecutionContext):
    # Which pieces run: see `executor_class`.
    use_plans = True
    use_leaves = True
    use_shared = True
    shared: SharedAnswers | None = None
    # This request's plans by field_details_list identity, as graphql-core memoizes its
    # collected subfields; the list is kept so that its id is not reused.
    _request_plans: dict[tuple[GraphQLOutputType, int], tuple[FieldDetailsList, Plan | None]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.async_helpers = _weak_helpers(self)

    def complete_value(
        self,
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[Any]:
        if self.use_plans and not (self.middleware_manager and self.middleware_manager.middlewares):
            try:
                memo = self._request_plans
            except AttributeError:
                memo = self._request_plans = {}
            key = (return_type, id(field_details_list))
            known = memo.get(key)
            if known is None:
                known = memo[key] = (
                    field_details_list,
                    _plan_for(self, return_type, field_details_list),
                )
            plan = known[1]
            if plan is not None:
                try:
                    return plan(result)
                except (Fallback, AttributeError):  # a missing attribute: the stock error
                    pass
        return super().complete_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def build_per_event_executor(self, payload: Any) -> FastLeafExecutor:
        if not self.use_shared:
            return cast(FastLeafExecutor, super().build_per_event_executor(payload))
        answers = getattr(payload, "shared_answers", None)
        shared = answers if isinstance(answers, SharedAnswers) else None
        if shared is not None:
            known = shared.get(self.operation, repr(self.variable_values.coerced))
            if known is not None:
                # Answered already: no per-event copy of this executor is needed.
                return cast(FastLeafExecutor, _Answered(known))
        executor = cast(FastLeafExecutor, super().build_per_event_executor(payload))
        executor.shared = shared
        return executor

    def execute_operation(
        self, serially: bool | None = None
    ) -> AwaitableOrValue[ExecutionResult | ExperimentalIncrementalExecutionResults]:
        shared = self.shared
        if shared is None:
            return super().execute_operation(serially)
        operation, variables = self.operation, repr(self.variable_values.coerced)
        known = shared.get(operation, variables)
        if known is not None:
            return known
        pending = shared.pending(operation, variables)
        if pending is not None:
            return self._shared_or_own(pending, serially)
        result = super().execute_operation(serially)
        if not self.is_awaitable(result):
            if isinstance(result, ExecutionResult):
                shared.put(operation, variables, result)
            return result
        shared.begin(operation, variables)
        # A task of its own: the answer others wait for is computed even if this
        # subscriber goes away before (or while) awaiting it.
        answer = asyncio.ensure_future(cast(Awaitable[ExecutionResult], result))
        answer.add_done_callback(lambda done: shared.settle(operation, variables, _shareable(done)))
        return _shielded(answer)

    async def _shared_or_own(
        self, pending: asyncio.Future[ExecutionResult | None], serially: bool | None
    ) -> ExecutionResult | ExperimentalIncrementalExecutionResults:
        # Shielded: a waiter that goes away must not cancel the answer the others await.
        answer = await asyncio.shield(pending)
        if answer is not None:
            return answer
        own = super().execute_operation(serially)
        if self.is_awaitable(own):
            return await cast(Awaitable[ExecutionResult], own)
        return cast(ExecutionResult, own)

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        if not self.use_leaves:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        middleware = self.middleware_manager
        # Field middleware must see every field, plain ones included.
        plain = plain_fields_of(parent_type) if not (middleware and middleware.middlewares) else {}
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list in grouped_field_set.items():
                field = plain.get(field_details_list[0].node.name.value)
                if field is not None:
                    value = getattr(source_value, field.attribute, _MISSING)
                    if value is None:
                        if field.nullable:
                            results[response_name] = None
                            continue
                    elif value is not _MISSING and value is not Undefined:
                        if field.coerce is not None:
                            try:
                                coerced = field.coerce(value)
                            except Exception:  # the stock path below reports it
                                coerced = None
                            if coerced is not None and coerced is not Undefined:
                                results[response_name] = coerced
                                continue
                        elif not is_awaitable(value) and _is_type_of(field.object_type, value):
                            completed = self._complete_object(
                                field,
                                field_details_list,
                                Path(path, response_name, parent_type.name),
                                value,
                                position_context,
                            )
                            results[response_name] = completed
                            if is_awaitable(completed):
                                awaitable_fields.append(response_name)
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

    def _complete_object(
        self,
        field: _Plain,
        field_details_list: FieldDetailsList,
        path: Path,
        value: Any,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any] | None]:
        """The object's own fields, with errors handled as `execute_field` handles them."""
        assert field.object_type is not None
        try:
            completed = self.collect_and_execute_subfields(
                field.object_type, field_details_list, path, value, position_context
            )
        except Exception as raw_error:
            self.handle_field_error(raw_error, field.field_type, field_details_list, path)
            return None
        if not self.is_awaitable(completed):
            return completed

        async def guarded() -> dict[str, Any] | None:
            try:
                return await cast(Awaitable[dict[str, Any]], completed)
            except Exception as raw_error:
                self.handle_field_error(raw_error, field.field_type, field_details_list, path)
                return None

        return guarded()


def executor_class(fast: FastPath) -> type[FastLeafExecutor] | None:
    """The executor running the pieces that are on; None: graphql-core's own."""
    if not fast.executor:
        return None
    pieces = {"use_plans": fast.plans, "use_leaves": fast.leaves, "use_shared": fast.shared}
    return type("FastExecutor", (FastLeafExecutor,), pieces)


def _shareable(done: asyncio.Future[ExecutionResult]) -> ExecutionResult | None:
    """A finished answer, or None for one that failed or was cancelled (its exception is
    retrieved here, and reaches whoever awaits the answer)."""
    if done.cancelled() or done.exception() is not None:
        return None
    result = done.result()
    return result if isinstance(result, ExecutionResult) else None


async def _shielded(answer: asyncio.Future[ExecutionResult]) -> ExecutionResult:
    return await asyncio.shield(answer)


def _is_type_of(object_type: GraphQLObjectType | None, value: Any) -> bool:
    check = object_type.is_type_of if object_type is not None else None
    # Strawberry's check reads the value only; anything else goes the stock way.
    return check is None or check(value, cast(Any, None)) is True


async def _gather(results: dict[str, Any], awaitable_fields: list[str]) -> dict[str, Any]:
    if len(awaitable_fields) == 1:
        field = awaitable_fields[0]
        results[field] = await results[field]
    else:
        awaited = await gather_with_cancel(*(results[field] for field in awaitable_fields))
        results.update(zip(awaitable_fields, awaited, strict=True))
    return results
