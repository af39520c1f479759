"""Error codes from the fixed set for every result, and what a caller must not see."""

from __future__ import annotations

import re
from uuid import uuid4

from graphql import GraphQLError
from strawberry.types import ExecutionContext

from kra_graphql.errors import AppError, ErrorCode
from kra_graphql.graphql.context import Context
from kra_graphql.logging import get_logger

log = get_logger(__name__)


# graphql-core's hints at other names in the schema ("Did you mean 'name'?").
_SUGGESTION = re.compile(r" Did you mean [^?]*\?")


def format_error(
    error: GraphQLError, *, mask: bool, hide_suggestions: bool = False
) -> GraphQLError:
    """Give every error a code from the fixed set; hide what the caller must not see."""
    original = error.original_error
    if isinstance(original, AppError):
        return _rebuild(error, original.message, original.extensions)
    if original is None or isinstance(original, GraphQLError):
        # Parse and validation errors, and values that do not coerce to their type (an
        # unknown enum value in the variables): what the caller sent is what is wrong.
        extensions = dict(error.extensions or {})
        extensions.setdefault("code", ErrorCode.BAD_USER_INPUT.value)
        # With introspection off, names of the schema are not to be told either.
        message = _SUGGESTION.sub("", error.message) if hide_suggestions else error.message
        return _rebuild(error, message, extensions)
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


def format_errors(execution: ExecutionContext, result: object) -> None:
    """Codes for every error of a result; unexpected ones masked in production."""
    errors = getattr(result, "errors", None)
    if result is None or not errors:
        return
    context = execution.context
    settings = context.runtime.settings if isinstance(context, Context) else None
    mask = settings.is_production if settings else True
    hide = not settings.introspection_enabled if settings else True
    result.errors = [  # type: ignore[attr-defined]
        format_error(error, mask=mask, hide_suggestions=hide) for error in errors
    ]
