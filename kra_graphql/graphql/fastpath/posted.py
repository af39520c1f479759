"""A JSON POST the guard has decoded, executed without Strawberry's `run()`.

Strawberry's view parses the content type and the body again and builds responses it
does not use: about a fifth of the CPU of a small request. Here the decoded body is
executed directly; everything else (GET, GraphiQL, uploads, streaming, malformed
requests) takes Strawberry's view, and the answer goes through the view's own
`process_result` and `encode_json`.

Private names used: Strawberry's `AsyncBaseHTTPView._get_stream_transport_from_headers`
and the exceptions `CannotGetOperationTypeError`, `InvalidOperationTypeError`
(`strawberry.schema.exceptions`), as `execute_single` handles them. Checked against
strawberry-graphql 0.341.2.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from kra_graphql.graphql.request import OperationRequest

# As Strawberry allows over POST.
_POST_OPERATIONS = OperationType.from_http("POST")

_View = TypeVar("_View", bound=GraphQL[Any, None])


def posted_view_class(base: type[_View]) -> type[_View]:
    """`base`, answering a plain JSON POST directly."""

    class PostedView(base):  # type: ignore[valid-type,misc]
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            asked = OperationRequest.of(scope) if scope["type"] == "http" else None
            if asked is not None and asked.posted is not None:
                request = Request(scope, receive)
                if self._plain(request, asked.posted):
                    response = await self._execute_posted(request, asked.posted)
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
                    context_value=await self.get_context(request, Response()),
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
            data = await self.process_result(request, result)
            return Response(self.encode_json(data), media_type="application/json")

    return cast(type[_View], PostedView)
