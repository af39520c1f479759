"""Every per-operation step in one schema extension, in the order the steps must run.

Strawberry builds each extension's hooks for every request, so one extension with all
the steps costs less than one per concern; the steps themselves live with their concern
(limits, authorization, error codes, metrics). Nothing here runs per field. The codes
of each subscription event's errors are given in `on_stream_result`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

from strawberry.extensions import SchemaExtension
from strawberry.types.execution import StreamExecutionResult
from strawberry.types.graphql import OperationType

from kra_graphql.graphql.auth import authorize_execution
from kra_graphql.graphql.context import Context
from kra_graphql.graphql.extensions import format_errors
from kra_graphql.graphql.limits import (
    check_inputs,
    check_operation,
    prepare_limits,
    tag_token_limit_errors,
)
from kra_graphql.graphql.observe import mark_executed, record_execution
from kra_graphql.metrics import ACTIVE_SUBSCRIPTIONS, QUERIES_WAITING


class OperationPipeline(SchemaExtension):
    async def on_operation(self) -> AsyncIterator[None]:
        execution = self.execution_context
        started = time.perf_counter()
        self.streaming = False
        mark_executed(execution.context)
        prepare_limits(execution)
        failure: BaseException | None = None
        try:
            yield
        except BaseException as error:
            failure = error
            raise
        finally:
            context = execution.context
            if isinstance(context, Context):
                await context.close()
            # Token-limit errors are marked before every error gets its code, and the
            # metrics and log line see the final codes.
            tag_token_limit_errors(execution)
            format_errors(execution, execution.result)
            if self.streaming:
                ACTIVE_SUBSCRIPTIONS.dec()
            record_execution(execution, failure, time.perf_counter() - started)

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        check_operation(execution)
        await authorize_execution(execution)
        check_inputs(execution)
        # A subscription lasts as long as its stream: count it open meanwhile.
        if execution.operation_type is OperationType.SUBSCRIPTION:
            self.streaming = True
            ACTIVE_SUBSCRIPTIONS.inc()
        # A query waits for a turn (READ_CONCURRENCY). Mutations do not: they are short,
        # and the job submitter batches the rows of those that arrive together.
        reads = execution.context.reads if isinstance(execution.context, Context) else None
        if reads is not None and execution.operation_type is OperationType.QUERY:
            await _take_turn(reads)
            try:
                yield
            finally:
                reads.release()
        else:
            yield

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        """Every result of a subscription, before it is sent: same codes, same masking."""
        format_errors(self.execution_context, result)
        yield


async def _take_turn(turns: asyncio.Semaphore) -> None:
    if not turns.locked():
        await turns.acquire()
        return
    QUERIES_WAITING.inc()
    try:
        await turns.acquire()
    finally:
        QUERIES_WAITING.dec()
