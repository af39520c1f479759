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
from kra_graphql.graphql.execution import shared_json
from kra_graphql.graphql.schema import schema


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
