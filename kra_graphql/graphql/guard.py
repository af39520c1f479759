"""In front of GraphQL over HTTP: body size, batching, the key, its scopes, the rate limit.

Everything here happens before the response cache, so a cached answer is only ever
served to a caller who may ask for it and who still has budget left; and before
execution, so a refused request costs one parse of a bounded document at most. Refusals
are GraphQL error bodies with a fitting HTTP status: 401, 403, 413, 429 (with
Retry-After) or 400.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from kra_graphql.access.control import AccessControl
from kra_graphql.access.keys import Principal
from kra_graphql.errors import AppError, BadUserInput, ErrorCode, RateLimited
from kra_graphql.graphql.auth import authorize, key_from_headers
from kra_graphql.graphql.cache import replay_body
from kra_graphql.graphql.document import UNKNOWN, operation_of, unnamed_choice
from kra_graphql.graphql.observe import record_operation
from kra_graphql.graphql.request import OperationRequest
from kra_graphql.logging import get_logger

log = get_logger(__name__)

STATUS = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.BAD_USER_INPUT: 400,
}


@dataclass(frozen=True, slots=True)
class Guard:
    """Shared by every request of a process."""

    access: AccessControl
    max_request_bytes: int
    max_query_tokens: int


class GuardedGraphQL:
    """ASGI app wrapping the (cached) GraphQL view for HTTP; the guard is on app.state."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        guard: Guard | None = getattr(scope["app"].state, "guard", None)
        if guard is None or scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        started = time.perf_counter()
        headers = Headers(scope=scope)
        body = b""
        posted: dict[str, Any] | None = None
        if scope["method"] == "POST":
            read = await _read_body(receive, headers, guard.max_request_bytes)
            if read is None:
                limit = guard.max_request_bytes
                too_large = BadUserInput(f"request body larger than {limit} bytes", field="body")
                await _refuse(send, too_large, status=413)
                return
            body = read
            decoded = _json_body(body, headers)
            if isinstance(decoded, dict):
                posted = decoded
                asked = _request(decoded.get("query"), decoded.get("operationName"))
            else:
                asked = decoded
        else:
            asked = _from_query_string(scope)
        if isinstance(asked, AppError):
            await _refuse(send, asked)
            return
        tokens = guard.max_query_tokens
        query, operation_name = asked if asked is not None else (None, None)
        operation = operation_of(query, operation_name, tokens) if query is not None else None
        principal: Principal | None = None
        try:
            principal = await guard.access.identify(key_from_headers(headers))
            # Nothing to run (GraphiQL's page, an empty body): the view answers on its own.
            if query is not None and operation is not None:
                refusal = authorize(principal, operation)
                if refusal is not None:
                    raise refusal
                address = scope["client"][0] if scope.get("client") else "unknown"
                await guard.access.spend(principal, address, mutation=operation.is_mutation)
        except AppError as error:
            record_operation(
                operation or UNKNOWN,
                outcome=error.code.value,
                principal=principal,
                seconds=time.perf_counter() - started,
            )
            await _refuse(send, error)
            return
        except Exception as error:
            # The key store is unreachable: nobody can be let in, and nothing is said why.
            error_id = uuid.uuid4().hex[:16]
            log.error("graphql.access_check_failed", error_id=error_id, exc_info=error)
            unavailable = InternalError(f"Internal server error (errorId {error_id})")
            await _refuse(send, unavailable, status=503, extra={"errorId": error_id})
            return
        ambiguous = unnamed_choice(query, operation_name, tokens) if query is not None else None
        if ambiguous is not None:
            # The document's own error, answered as GraphQL answers errors (status 200).
            seconds = time.perf_counter() - started
            record_operation(
                UNKNOWN, outcome=ambiguous.code.value, principal=principal, seconds=seconds
            )
            await _refuse(send, ambiguous, status=200)
            return
        request = OperationRequest(body, posted, query, operation_name, operation, principal)
        request.keep(scope)
        await self.inner(scope, replay_body(body), send)
        if operation is not None and not request.executed:
            # Answered without execution: from the response cache.
            record_operation(
                operation,
                outcome="ok",
                principal=principal,
                seconds=time.perf_counter() - started,
                cached=True,
            )


def _json_body(body: bytes, headers: Headers) -> dict[str, Any] | AppError | None:
    if "json" not in headers.get("content-type", ""):
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return BadUserInput("the request body is not JSON", field="body")
    if isinstance(data, list):
        return BadUserInput("batched requests are not supported: send one operation", field="body")
    if not isinstance(data, dict):
        return BadUserInput("the request body must be a JSON object", field="body")
    return data


def _from_query_string(scope: Scope) -> tuple[str, str | None] | AppError | None:
    params = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    query = params.get("query", [None])[0]
    if query is None:
        return None
    return _request(query, params.get("operationName", [None])[0])


def _request(query: object, operation_name: object) -> tuple[str, str | None] | AppError | None:
    if query is None:
        return None
    if not isinstance(query, str):
        return BadUserInput("query must be a string", field="query")
    if operation_name is not None and not isinstance(operation_name, str):
        return BadUserInput("operationName must be a string", field="operationName")
    return query, operation_name


async def _read_body(receive: Receive, headers: Headers, limit: int) -> bytes | None:
    """The whole body, or None as soon as it is known to exceed `limit` bytes."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class InternalError(AppError):
    code = ErrorCode.INTERNAL_SERVER_ERROR


async def _refuse(
    send: Send,
    error: AppError,
    *,
    status: int | None = None,
    extra: dict[str, object] | None = None,
) -> None:
    extensions = {**error.extensions, **(extra or {})}
    body = orjson.dumps(
        {"data": None, "errors": [{"message": error.message, "extensions": extensions}]}
    )
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if error.code is ErrorCode.UNAUTHENTICATED:
        headers.append((b"www-authenticate", b'Bearer realm="kra-graphql"'))
    status = status or STATUS.get(error.code, 400)
    if isinstance(error, RateLimited):
        headers.append((b"retry-after", str(error.retry_after_s).encode()))
        status = error.http_status
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
