"""How Strawberry runs schema extensions, without its per-request and per-event costs.

Strawberry wraps each extension's hooks anew for every request, and its
`on_stream_result` and `get_results` for every subscription event; with a thousand
subscribers that cost as much as the rest of an event's delivery. Here hooks are wrapped
once per class, a stage with a single hook is entered without an exit stack, the
pipeline's one per-result step runs directly, and hooks other extensions define still
run, in Strawberry's order. The pipeline's own per-result step (error codes) is called
directly rather than through its `on_stream_result` hook.

Private names used: Strawberry's `Schema.create_extensions_runner`,
`strawberry.extensions.runner.SchemaExtensionsRunner` and the stage context managers of
`strawberry.extensions.context` (`WrappedHook`, `HOOK_NAME`, `get_hook`). Checked against
strawberry-graphql 0.341.2.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from typing import Any, TypeVar, cast

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    ExtensionContextManagerBase,
    OperationContextManager,
    ParsingContextManager,
    StreamResultContextManager,
    ValidationContextManager,
    WrappedHook,
)
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext

from kra_graphql.graphql.extensions import format_errors
from kra_graphql.graphql.pipeline import OperationPipeline

_NO_HOOK = contextlib.nullcontext()

# (extension class, stage) -> the stage's hook as a context-manager factory taking the
# extension, and whether it is async; None: the class has no hook for the stage.
_Factory = tuple[Callable[[SchemaExtension], Any], bool] | None
_FACTORIES: dict[tuple[type[SchemaExtension], str], _Factory] = {}


def _cached_factory(cls: type[SchemaExtension], stage: str) -> _Factory:
    key = (cls, stage)
    try:
        return _FACTORIES[key]
    except KeyError:
        found = _FACTORIES[key] = _factory(cls, stage)
        return found


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
        found = _cached_factory(type(extension), self.HOOK_NAME)
        if found is None:
            return None
        factory, is_async = found
        return WrappedHook(extension, partial(factory, extension), is_async)


class _OneHook:
    """A stage with a single hook, entered directly: an exit stack around one context
    manager costs more than the hook. Exceptions pass through it as through the stack."""

    __slots__ = ("_hook", "_is_async")

    def __init__(self, hook: Any, is_async: bool) -> None:
        self._hook = hook
        self._is_async = is_async

    async def __aenter__(self) -> None:
        if self._is_async:
            await self._hook.__aenter__()
        else:
            self._hook.__enter__()

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        if self._is_async:
            return cast(bool | None, await self._hook.__aexit__(*exc_info))
        return cast(bool | None, self._hook.__exit__(*exc_info))

    def __enter__(self) -> None:
        if self._is_async:
            raise RuntimeError("an async extension hook cannot run during sync execution")
        self._hook.__enter__()

    def __exit__(self, *exc_info: Any) -> bool | None:
        return cast(bool | None, self._hook.__exit__(*exc_info))


class _Operation(_CachedHooks, OperationContextManager):
    __slots__ = ()


class _Validation(_CachedHooks, ValidationContextManager):
    __slots__ = ()


class _Parsing(_CachedHooks, ParsingContextManager):
    __slots__ = ()


class _Executing(_CachedHooks, ExecutingContextManager):
    __slots__ = ()


_Stage = TypeVar("_Stage", bound=ExtensionContextManagerBase)


class PipelineRunner(SchemaExtensionsRunner):
    """The runner of every operation of our schema."""

    def __init__(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> None:
        super().__init__(execution_context, extensions)
        self._stream_hooks = any(
            _overrides(each, "on_stream_result")
            for each in extensions
            if not isinstance(each, OperationPipeline)
        )
        self._result_hooks = any(_overrides(each, "get_results") for each in extensions)

    def operation(self) -> OperationContextManager:
        return self._stage(_Operation)

    def validation(self) -> ValidationContextManager:
        return self._stage(_Validation)

    def parsing(self) -> ParsingContextManager:
        return self._stage(_Parsing)

    def executing(self) -> ExecutingContextManager:
        return self._stage(_Executing)

    def _stage(self, several: type[_Stage]) -> _Stage:
        """No hook: nothing to enter; one hook: entered directly; several: in an exit
        stack, in extension order, as Strawberry does."""
        hooks = [
            (found, extension)
            for extension in self.extensions
            if (found := _cached_factory(type(extension), several.HOOK_NAME)) is not None
        ]
        if not hooks:
            return cast(_Stage, _NO_HOOK)
        if len(hooks) == 1:
            (factory, is_async), extension = hooks[0]
            return cast(_Stage, _OneHook(factory(extension), is_async))
        return several(self.extensions)

    def on_stream_result(self, result: Any) -> Any:
        """Every result of a subscription, before it is sent: same codes, same masking."""
        format_errors(self.execution_context, result)
        if not self._stream_hooks:
            return _NO_HOOK
        others = [each for each in self.extensions if not isinstance(each, OperationPipeline)]
        return StreamResultContextManager(others, result)

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
