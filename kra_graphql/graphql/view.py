"""The Strawberry ASGI view: HTTP and WebSocket on one route, orjson on the wire."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import orjson
from graphql import GraphQLError, GraphQLFormattedError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ErrorMessage,
    SubscribeMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionInitMessage,
    StartMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.types import ErrorMessage as LegacyError
from strawberry.types.unset import UNSET, UnsetType

from kra_graphql import graphiql
from kra_graphql.access.keys import NOBODY
from kra_graphql.errors import AppError
from kra_graphql.graphql.auth import key_from_connection_params, key_from_headers
from kra_graphql.graphql.context import ApiServices, Context
from kra_graphql.graphql.document import unnamed_choice
from kra_graphql.graphql.fastpath.executor import shared_json
from kra_graphql.graphql.fastpath.posted import posted_view_class
from kra_graphql.graphql.request import OperationRequest
from kra_graphql.graphql.schema import Schema


def encode_message(message: Mapping[str, object]) -> str:
    """A WebSocket message as text; a result shared by many subscribers is encoded once
    and only the envelope (its operation id) per subscriber."""
    payload = message.get("payload")
    if isinstance(payload, dict) and payload.keys() == {"data"}:
        data = shared_json(payload["data"], orjson.dumps)
        if data is not None:
            head = orjson.dumps({key: value for key, value in message.items() if key != "payload"})
            return (head[:-1] + b',"payload":{"data":' + data + b"}}").decode()
    return orjson.dumps(message).decode()


class _TextFrames(ASGIWebSocketAdapter):
    """GraphQL over WebSocket clients expect text frames; orjson produces bytes."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(encode_message(message))
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


# Both protocols close a connection whose key is missing or wrong with this code.
CLOSE_FORBIDDEN = 4403


class _LegacyProtocol(BaseGraphQLWSHandler[Context, None]):
    """graphql-ws would close a rejected connection with 1011; close it with 4403 instead.
    Like graphql-transport-ws below, it refuses a document of several operations when
    none is named (Strawberry would run the first)."""

    async def handle_start(self, message: StartMessage) -> None:
        error = _unnamed_choice(self.context, message["payload"])
        if error is None:
            await super().handle_start(message)
        else:
            await self.send_message(LegacyError(type="error", id=message["id"], payload=error))

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        view = cast(GraphQLView, self.view)
        try:
            await view.authenticate_connection(self.context, message.get("payload"))
        except ConnectionRejectionError as rejection:
            await self.send_message({"type": "connection_error", "payload": rejection.payload})
            await self.websocket.close(code=CLOSE_FORBIDDEN, reason="Forbidden")
            return
        await super().handle_connection_init(message)


class _TransportProtocol(BaseGraphQLTransportWSHandler[Context, None]):
    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        error = _unnamed_choice(self.context, message["payload"])
        if error is None:
            await super().handle_subscribe(message)
        else:
            await self.send_message(ErrorMessage(id=message["id"], type="error", payload=[error]))


def _unnamed_choice(context: Context, payload: Mapping[str, Any]) -> GraphQLFormattedError | None:
    """The error refusing a document of several operations none of which is named."""
    tokens = context.runtime.settings.max_query_tokens
    refusal = unnamed_choice(payload["query"], payload.get("operationName"), tokens)
    if refusal is None:
        return None
    return GraphQLError(refusal.message, extensions=refusal.extensions).formatted


class GraphQLView(GraphQL[Context, None]):
    websocket_adapter_class = _TextFrames
    graphql_ws_handler_class = _LegacyProtocol
    graphql_transport_ws_handler_class = _TransportProtocol

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        # Strawberry's page loads its libraries from a CDN; ours ships them.
        return graphiql.page()

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return self._context(request)

    def _context(self, request: Request | WebSocket) -> Context:
        services = cast(ApiServices, request.app.state.services)
        # HTTP callers were identified by the guard in front of this view; a WebSocket
        # is nobody until its connection_init proves otherwise.
        http = OperationRequest.of(request.scope) if isinstance(request, Request) else None
        principal = http.principal if http is not None else NOBODY
        return Context(services, request, principal, http)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        if context.principal is NOBODY:
            await self.authenticate_connection(context, context.connection_params)
        return cast(UnsetType, UNSET)

    async def authenticate_connection(self, context: Context, params: object) -> None:
        """The key from connection_init, else from the upgrade request's headers."""
        if context.access is None:
            return
        try:
            key = key_from_connection_params(params)
            if key is None and context.request is not None:
                key = key_from_headers(context.request.headers)
            principal = await context.access.identify(key)
        except AppError as error:
            raise ConnectionRejectionError(
                {"message": error.message, "extensions": error.extensions}
            ) from None
        if not principal.scopes:
            raise ConnectionRejectionError(
                {"message": "an API key is required", "extensions": {"code": "UNAUTHENTICATED"}}
            )
        context.principal = principal


def create_view(schema: Schema, *, graphiql: bool, allowed_origins: list[str]) -> GraphQLView:
    view_class = posted_view_class(GraphQLView) if schema.fast_path.posted else GraphQLView
    view = view_class(schema, graphql_ide="graphiql" if graphiql else None)
    # Browsers on other sites may open a WebSocket only from these origins.
    view.allowed_origins = frozenset(allowed_origins)
    return view
