"""The Strawberry ASGI view: HTTP and WebSocket on one route, orjson on the wire."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.http.exceptions import WebSocketDisconnected

from kra_graphql.graphql.context import ApiServices, Context
from kra_graphql.graphql.schema import schema


class _TextFrames(ASGIWebSocketAdapter):
    """GraphQL over WebSocket clients expect text frames; orjson produces bytes."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class GraphQLView(GraphQL[Context, None]):
    websocket_adapter_class = _TextFrames

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return Context(cast(ApiServices, request.app.state.services), request)


def create_view(*, graphiql: bool) -> GraphQLView:
    return GraphQLView(schema, graphql_ide="graphiql" if graphiql else None)
