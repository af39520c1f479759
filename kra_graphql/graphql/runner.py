"""How Strawberry runs schema extensions, without its per-request and per-event costs.

Strawberry wraps each extension's hooks anew for every request, and its
`on_stream_result` and `get_results` for every subscription event; with a thousand
subscribers that cost as much as the rest of an event's delivery. Here hooks are wrapped
once per class, the pipeline's one per-result step runs directly, and hooks other
extensions define still run, in Strawberry's order.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    ExtensionContextManagerBase,
    OperationContextManager,
    ParsingContextManager,
    ValidationContextManager,
    WrappedHook,
)
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext

from kra_graphql.graphql.extensions import format_errors

_NO_HOOK = contextlib.nullcontext()

# (extension class, stage) -> the stage's hook as a context-manager factory taking the
# extension, and whether it is async; None: the class has no hook for the stage.
_Factory = tuple[Callable[[SchemaExtension], Any], bool] | None
_FACTORIES: dict[tuple[type[SchemaExtension], str], _Factory] = {}


def _factory(cls: type[SchemaExtension], stage: str) -> _Factory:
    hook = getattr(cls, stage)
    if hook is getattr(SchemaExtension, stage):
        return None
    if inspect.isasyncgenfunction(hook):
        return contextlib.asynccontextmanager(hook), True
    if inspect.isgeneratorfunction(hook):
        return contextlib.contextmanager(hook), False
    if inspect.iscoroutinefunction(hook):

        @contextlib.asynccontextmanager
        async def awaited(extension: SchemaExtension) -> AsyncIterator[None]:
            await hook(extension)
            yield

        return awaited, True

    @contextlib.contextmanager
    def called(extension: SchemaExtension) -> Iterator[None]:
        hook(extension)
        yield

    return called, False


class _CachedHooks(ExtensionContextManagerBase):
    """Strawberry inspects and wraps every extension's hook for every stage of every
    request; the wrapping depends only on the class, so it is done once."""

    __slots__ = ()

    def get_hook(self, extension: SchemaExtension) -> WrappedHook | None:
        key = (type(extension), self.HOOK_NAME)
        try:
            found = _FACTORIES[key]
        except KeyError:
            found = _FACTORIES[key] = _factory(type(extension), self.HOOK_NAME)
        if found is None:
            return None
        factory, is_async = found
        return WrappedHook(extension, partial(factory, extension), is_async)


class _Operation(_CachedHooks, OperationContextManager):
    __slots__ = ()


class _Validation(_CachedHooks, ValidationContextManager):
    __slots__ = ()


class _Parsing(_CachedHooks, ParsingContextManager):
    __slots__ = ()


class _Executing(_CachedHooks, ExecutingContextManager):
    __slots__ = ()


class PipelineRunner(SchemaExtensionsRunner):
    """The runner of every operation of our schema."""

    def __init__(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> None:
        super().__init__(execution_context, extensions)
        self._stream_hooks = any(_overrides(each, "on_stream_result") for each in extensions)
        self._result_hooks = any(_overrides(each, "get_results") for each in extensions)

    def operation(self) -> OperationContextManager:
        return _Operation(self.extensions)

    def validation(self) -> ValidationContextManager:
        return _Validation(self.extensions)

    def parsing(self) -> ParsingContextManager:
        return _Parsing(self.extensions)

    def executing(self) -> ExecutingContextManager:
        return _Executing(self.extensions)

    def on_stream_result(self, result: Any) -> Any:
        """Every result of a subscription, before it is sent: same codes, same masking."""
        format_errors(self.execution_context, result)
        return super().on_stream_result(result) if self._stream_hooks else _NO_HOOK

    async def get_extensions_results(self, ctx: ExecutionContext) -> dict[str, Any]:
        if self._result_hooks:
            return await super().get_extensions_results(ctx)
        return dict(ctx.extensions_results)


def _overrides(extension: SchemaExtension, hook: str) -> bool:
    return getattr(type(extension), hook) is not getattr(SchemaExtension, hook)
