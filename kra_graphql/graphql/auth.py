"""Which scopes an operation needs, where a key travels, and the per-operation check.

Scopes are decided per operation from its root fields, never per field: queries and
subscriptions need `read`; each mutation needs the scope of its kind of work. The HTTP
guard checks before the response cache and before execution; `authorize_execution`
checks at execution what the guard has not: operations sent over WebSocket, and
execution in process.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from starlette.websockets import WebSocket
from strawberry.types import ExecutionContext

from kra_graphql.access.control import INVALID_KEY, KEY_REQUIRED
from kra_graphql.access.keys import Principal, Scope
from kra_graphql.errors import AppError, Forbidden, Unauthenticated
from kra_graphql.graphql.context import Context
from kra_graphql.graphql.document import Operation, operation_in
from kra_graphql.jobs.kinds import REGISTRY

_P, _A = frozenset({Scope.PREDICT}), frozenset({Scope.ADMIN})
# Every mutation, with the scopes it needs beyond holding a valid key: those that submit
# a job as their kind's declaration says. A mutation missing here needs `admin`: a new
# mutation is closed until somebody decides otherwise.
MUTATION_SCOPES: Mapping[str, frozenset[Scope]] = {
    **REGISTRY.mutation_scopes(),
    "predictRace": _P,
    "createPrompt": _P,
    "activatePrompt": _P,
    # Any key may cancel or retry its own jobs; the resolver checks whose job it is.
    "cancelJob": frozenset(),
    "retryJob": frozenset(),
    "createApiKey": _A,
    "revokeApiKey": _A,
    "createWebhook": _A,
    "deleteWebhook": _A,
    "__typename": frozenset(),
}
# Queries needing more than `read`.
QUERY_SCOPES: Mapping[str, frozenset[Scope]] = {
    "apiKeys": _A,
    "webhooks": _A,
    "webhookDeliveries": _A,
}
READ = frozenset({Scope.READ})


@lru_cache(maxsize=1024)
def required_scopes(operation: Operation) -> frozenset[Scope]:
    table, base = (
        (MUTATION_SCOPES, frozenset[Scope]()) if operation.is_mutation else (QUERY_SCOPES, READ)
    )
    scopes = set(base)
    for field in operation.fields:
        scopes |= table.get(field, _A if operation.is_mutation else frozenset())
    return frozenset(scopes)


def authorize(principal: Principal, operation: Operation) -> AppError | None:
    """None when `principal` may run `operation`; else the error to answer with."""
    needed = required_scopes(operation)
    if not principal.authenticated and (operation.is_mutation or not needed <= principal.scopes):
        return Unauthenticated(KEY_REQUIRED)
    missing = needed - principal.scopes
    if missing:
        names = ", ".join(sorted(scope.value for scope in missing))
        return Forbidden(f"this key lacks the scope needed here ({names})")
    return None


def check_job_owner(principal: Principal, requested_by: str | None) -> None:
    """Jobs are cancelled or retried by the key that submitted them, or by an admin key."""
    if principal.can(Scope.ADMIN):
        return
    if principal.name is None or requested_by != principal.name:
        raise Forbidden("only the key that submitted this job, or an admin key, may do this")


def key_from_headers(headers: Mapping[str, str]) -> str | None:
    """`Authorization: Bearer <key>` or `X-API-Key: <key>`; raises on a malformed header."""
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, key = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthenticated(INVALID_KEY)
        return key.strip()
    api_key = headers.get("x-api-key")
    if api_key is not None:
        if not api_key.strip():
            raise Unauthenticated(INVALID_KEY)
        return api_key.strip()
    return None


def key_from_connection_params(params: object) -> str | None:
    """`{"apiKey": key}` or `{"Authorization": "Bearer key"}` in connection_init."""
    if not isinstance(params, dict):
        return None
    if "apiKey" in params:
        key = params["apiKey"]
        if not isinstance(key, str) or not key.strip():
            raise Unauthenticated(INVALID_KEY)
        return key.strip()
    for name in ("Authorization", "authorization"):
        if name in params:
            value = params[name]
            if not isinstance(value, str):
                raise Unauthenticated(INVALID_KEY)
            return key_from_headers({"authorization": value})
    return None


async def authorize_execution(execution: ExecutionContext) -> None:
    """Checks scopes before execution, unless the HTTP guard has; over WebSocket also
    spends the caller's rate budget (over HTTP the guard spent it)."""
    context = execution.context
    if not isinstance(context, Context) or context.authorized:
        return
    operation = operation_in(execution)
    error = authorize(context.principal, operation)
    if error is not None:
        raise error
    if isinstance(context.request, WebSocket) and context.access is not None:
        address = context.request.client.host if context.request.client else "unknown"
        await context.access.spend(context.principal, address, mutation=operation.is_mutation)
