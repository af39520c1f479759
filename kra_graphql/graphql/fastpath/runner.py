"""Subscription events without Strawberry's per-event extension costs.

For every event of every subscription, Strawberry wraps each extension's
`on_stream_result` hook anew and asks each for `get_results`; with a thousand
subscribers that was a fifth of an event's delivery (bench: 108 against 90 µs of API
CPU a message). Here the pipeline's own per-result step (error codes) is called
directly, and only the hooks that other extensions define go through Strawberry's
manager. The stages of an operation (parse, validate, execute) run as Strawberry runs
them: wrapping their hooks once per class instead of per request bought nothing
measurable.

Private names used: Strawberry's `Schema.create_extensions_runner`,
`strawberry.extensions.runner.SchemaExtensionsRunner` and
`strawberry.extensions.context.StreamResultContextManager`. Checked against
strawberry-graphql 0.341.2.
"""

from __future__ import annotations

import contextlib
from typing import Any, TypeVar, cast

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import StreamResultContextManager
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext

from kra_graphql.graphql.extensions import format_errors
from kra_graphql.graphql.pipeline import OperationPipeline

_NO_HOOK = contextlib.nullcontext()


class PipelineRunner(SchemaExtensionsRunner):
    """The runner of every operation of our schema."""

    def __init__(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> None:
        super().__init__(execution_context, extensions)
        self._stream_hooks = [
            each
            for each in extensions
            if _overrides(each, "on_stream_result") and not isinstance(each, OperationPipeline)
        ]
        self._result_hooks = any(_overrides(each, "get_results") for each in extensions)

    def on_stream_result(self, result: Any) -> Any:
        """Every result of a subscription, before it is sent: same codes, same masking."""
        format_errors(self.execution_context, result)
        if not self._stream_hooks:
            return _NO_HOOK
        return StreamResultContextManager(self._stream_hooks, result)

    async def get_extensions_results(self, ctx: ExecutionContext) -> dict[str, Any]:
        if self._result_hooks:
            return await super().get_extensions_results(ctx)
        return dict(ctx.extensions_results)


def _overrides(extension: SchemaExtension, hook: str) -> bool:
    return getattr(type(extension), hook) is not getattr(SchemaExtension, hook)


_Schema = TypeVar("_Schema", bound=strawberry.Schema)


def fast_schema_class(base: type[_Schema]) -> type[_Schema]:
    """`base` running its operations with `PipelineRunner`."""

    class FastSchema(base):  # type: ignore[valid-type,misc]
        def create_extensions_runner(
            self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
        ) -> SchemaExtensionsRunner:
            return PipelineRunner(execution_context, extensions)

    return cast(type[_Schema], FastSchema)
