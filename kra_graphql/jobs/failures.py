"""Which failures are worth another attempt."""

from __future__ import annotations

import httpx
import redis.exceptions
from sqlalchemy.exc import DBAPIError, OperationalError

from kra_graphql.kra.errors import KraError

MAX_ERROR_LENGTH = 2000


def is_transient(error: BaseException) -> bool:
    if isinstance(error, KraError):
        return error.retryable
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(
        error,
        OperationalError
        | redis.exceptions.ConnectionError
        | redis.exceptions.TimeoutError
        | httpx.TransportError
        | TimeoutError
        | ConnectionError,
    )


def describe(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    if not isinstance(error, KraError):
        text = f"{type(error).__name__}: {text}"
    return text[:MAX_ERROR_LENGTH]
