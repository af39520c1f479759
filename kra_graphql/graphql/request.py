"""One GraphQL request over HTTP, read once by the guard and shared with what follows.

The guard (graphql/guard.py) builds it, the response cache (graphql/cache.py) keys on it
and the view executes it; it travels in the ASGI scope's state, under one name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.types import Scope

from kra_graphql.access.keys import Principal
from kra_graphql.graphql.document import Operation

STATE_KEY = "graphql_request"


@dataclass(slots=True)
class OperationRequest:
    body: bytes
    # The JSON body as decoded, for a POST of application/json; None otherwise.
    posted: dict[str, Any] | None
    query: str | None
    operation_name: str | None
    # None: nothing to run (GraphiQL's page, an empty body).
    operation: Operation | None
    principal: Principal
    # Set once the operation is executed rather than answered from the cache.
    executed: bool = False

    def keep(self, scope: Scope) -> None:
        scope.setdefault("state", {})[STATE_KEY] = self

    @staticmethod
    def of(scope: Scope) -> OperationRequest | None:
        found = scope.get("state", {}).get(STATE_KEY)
        return found if isinstance(found, OperationRequest) else None
