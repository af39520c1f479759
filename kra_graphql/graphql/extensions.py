"""Per-operation extensions (never per field): error codes, masking, session clean-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from kra_graphql.errors import AppError, ErrorCode
from kra_graphql.graphql.context import Context
from kra_graphql.logging import get_logger

log = get_logger(__name__)


def format_error(error: GraphQLError, *, mask: bool) -> GraphQLError:
    """Give every error a code from the fixed set; hide what the caller must not see."""
    original = error.original_error
    if isinstance(original, AppError):
        return _rebuild(error, original.message, original.extensions)
    if original is None or isinstance(original, GraphQLError):
        # Parse, validation and variable coercion errors (the latter wrap graphql-core's
        # own error): the request itself is what the caller got wrong.
        code = (error.extensions or {}).get("code", ErrorCode.BAD_USER_INPUT.value)
        return _rebuild(error, error.message, {**(error.extensions or {}), "code": code})
    error_id = uuid4().hex[:16]
    log.error(
        "graphql.unexpected_error",
        error_id=error_id,
        path=error.path,
        exc_info=(type(original), original, original.__traceback__),
    )
    message = f"Internal server error (errorId {error_id})" if mask else error.message
    return _rebuild(
        error, message, {"code": ErrorCode.INTERNAL_SERVER_ERROR.value, "errorId": error_id}
    )


def _rebuild(error: GraphQLError, message: str, extensions: dict[str, object]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


class OperationLifecycle(SchemaExtension):
    async def on_operation(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            context = self.execution_context.context
            if isinstance(context, Context):
                await context.close()
                mask = context.runtime.settings.is_production
            else:
                mask = True
            result = self.execution_context.result
            errors = getattr(result, "errors", None)
            if result is not None and errors:
                result.errors = [format_error(error, mask=mask) for error in errors]
