"""The Strawberry ASGI view: HTTP and WebSocket on one route, orjson on the wire."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import process_result
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import ConnectionInitMessage
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from kra_graphql.access.keys import NOBODY
from kra_graphql.errors import AppError
from kra_graphql.graphql.auth import key_from_connection_params, key_from_headers
from kra_graphql.graphql.cache import POSTED
from kra_graphql.graphql.context import ApiServices, Context
from kra_graphql.graphql.execution import shared_json
from kra_graphql.graphql.schema import schema

# As Strawberry allows over POST.
_POST_OPERATIONS = OperationType.from_http("POST")


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
    """graphql-ws would close a rejected connection with 1011; close it with 4403 instead."""

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        view = cast(GraphQLView, self.view)
        try:
            await view.authenticate_connection(self.context, message.get("payload"))
        except ConnectionRejectionError as rejection:
            await self.send_message({"type": "connection_error", "payload": rejection.payload})
            await self.websocket.close(code=CLOSE_FORBIDDEN, reason="Forbidden")
            return
        await super().handle_connection_init(message)


class GraphQLView(GraphQL[Context, None]):
    websocket_adapter_class = _TextFrames
    graphql_ws_handler_class = _LegacyProtocol

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A plain JSON POST the guard has decoded is executed here directly; everything
        else (GET, GraphiQL, uploads, streaming, malformed requests) takes Strawberry's
        view. Its view parses the content type and the body again and builds responses
        it does not use: about a fifth of the CPU of a small request."""
        posted = scope.get("state", {}).get(POSTED) if scope["type"] == "http" else None
        if posted is not None:
            request = Request(scope, receive)
            if self._plain(request, posted):
                response = await self._execute_posted(request, posted)
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def _plain(self, request: Request, posted: dict[str, Any]) -> bool:
        """What Strawberry would run as one JSON operation, without a streaming reply."""
        content_type = request.headers.get("content-type", "")
        return (
            content_type.partition(";")[0].strip().lower() == "application/json"
            and isinstance(posted.get("query"), str)
            and isinstance(posted.get("variables"), dict | None)
            and isinstance(posted.get("extensions"), dict | None)
            and self._get_stream_transport_from_headers(request.headers) is None
        )

    async def _execute_posted(self, request: Request, posted: dict[str, Any]) -> Response:
        """Strawberry's execute_single and response, for one decoded JSON operation."""
        try:
            result = await self.schema.execute(
                posted["query"],
                variable_values=posted.get("variables"),
                context_value=self._context(request),
                operation_name=posted.get("operationName"),
                allowed_operation_types=_POST_OPERATIONS,
                operation_extensions=posted.get("extensions"),
            )
        except CannotGetOperationTypeError as error:
            return PlainTextResponse(error.as_http_error_reason(), status_code=400)
        except InvalidOperationTypeError as error:
            return PlainTextResponse(error.as_http_error_reason("POST"), status_code=400)
        except MissingQueryError:
            return PlainTextResponse("No GraphQL query found in the request", status_code=400)
        return Response(self.encode_json(process_result(result)), media_type="application/json")

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
        principal = getattr(request.state, "principal", NOBODY)
        return Context(services, request, principal if isinstance(request, Request) else NOBODY)

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


def create_view(*, graphiql: bool, allowed_origins: list[str]) -> GraphQLView:
    view = GraphQLView(schema, graphql_ide="graphiql" if graphiql else None)
    # Browsers on other sites may open a WebSocket only from these origins.
    view.allowed_origins = frozenset(allowed_origins)
    return view
