"""One metric sample and one log line per operation: name, type, outcome, key name, duration.

Recorded once per operation (never per field), by `OperationPipeline` for operations that
ran and by the HTTP guard for requests it refused or that the response cache answered.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache

from graphql import OperationType
from prometheus_client import Counter, Histogram
from strawberry.types import ExecutionContext

from kra_graphql.access.keys import Principal
from kra_graphql.errors import AppError, ErrorCode
from kra_graphql.graphql.context import Context
from kra_graphql.graphql.document import Operation, operation_in
from kra_graphql.logging import get_logger
from kra_graphql.metrics import (
    GRAPHQL_LATENCY,
    GRAPHQL_OPERATIONS,
    RESPONSE_CACHE_HITS,
    operation_label,
)

log = get_logger("kra_graphql.graphql")


def record_operation(
    operation: Operation,
    *,
    outcome: str,
    principal: Principal | None,
    seconds: float,
    cached: bool = False,
) -> None:
    name = operation_label(operation.name)
    kind = operation.type_label
    counter, latency = _samples(name, kind, outcome)
    counter.inc()
    if operation.type is not OperationType.SUBSCRIPTION:
        latency.observe(seconds)
    if cached:
        RESPONSE_CACHE_HITS.inc()
    log.info(
        "graphql.operation",
        operation=name,
        type=kind,
        outcome=outcome,
        key=principal.name if principal is not None else None,
        duration_ms=round(seconds * 1000, 2),
        cached=cached,
    )


@lru_cache(maxsize=4096)
def _samples(name: str, kind: str, outcome: str) -> tuple[Counter, Histogram]:
    """The labelled children, looked up once per label set rather than once a request."""
    return (
        GRAPHQL_OPERATIONS.labels(operation=name, type=kind, outcome=outcome),
        GRAPHQL_LATENCY.labels(operation=name, type=kind),
    )


def mark_executed(context: object) -> None:
    """Tells the HTTP guard that this request was executed, not served from the cache."""
    if isinstance(context, Context) and context.http is not None:
        context.http.executed = True


def record_execution(
    execution: ExecutionContext, failure: BaseException | None, seconds: float
) -> None:
    """The metric sample and log line of an operation that ran, with its final codes."""
    context = execution.context
    principal = context.principal if isinstance(context, Context) else None
    record_operation(
        operation_in(execution), outcome=_outcome(execution.result, failure), principal=principal,
        seconds=seconds,
    )  # fmt: skip


def _outcome(result: object, failure: BaseException | None) -> str:
    if isinstance(failure, AppError):
        return failure.code.value
    if isinstance(failure, asyncio.CancelledError | GeneratorExit):
        return "cancelled"
    if failure is not None:
        return ErrorCode.INTERNAL_SERVER_ERROR.value
    errors = getattr(result, "errors", None)
    if errors:
        code = (errors[0].extensions or {}).get("code")
        return str(code) if code in ErrorCode.__members__ else ErrorCode.BAD_USER_INPUT.value
    return "ok"
