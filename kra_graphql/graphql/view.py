"""The Strawberry ASGI view: HTTP and WebSocket on one route, orjson on the wire."""

from __future__ import annotations

from typing import cast

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from kra_graphql.graphql.context import Context
from kra_graphql.graphql.schema import schema
from kra_graphql.runtime import Runtime


class GraphQLView(GraphQL[Context, None]):
    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        runtime = cast(Runtime, request.app.state.runtime)
        return Context(runtime, request)


def create_view(*, graphiql: bool) -> GraphQLView:
    return GraphQLView(schema, graphql_ide="graphiql" if graphiql else None)
