"""A small GraphQL client: queries and mutations over HTTP, subscriptions over
graphql-transport-ws, the API key sent the way the server expects it on each."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Mapping
from contextlib import suppress
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.typing import Subprotocol

PROTOCOL = Subprotocol("graphql-transport-ws")
DEFAULT_URL = "http://127.0.0.1:8000/graphql"

# Close codes of graphql-transport-ws that mean "your credentials", not "the network".
_CLOSE_CODES = {4401: "UNAUTHENTICATED", 4403: "FORBIDDEN", 4400: "BAD_REQUEST"}


class ClientError(Exception):
    """Anything that stops a request, reduced to one line a person can act on."""

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field

    @classmethod
    def from_graphql(cls, errors: object) -> ClientError:
        first = errors[0] if isinstance(errors, list) and errors else {}
        if not isinstance(first, Mapping):
            return cls(str(errors))
        extensions = first.get("extensions") or {}
        field = extensions.get("field")
        return cls(
            str(first.get("message") or "unknown error"),
            code=extensions.get("code"),
            field=str(field) if field is not None else None,
        )

    def line(self) -> str:
        text = f"{self.code}: {self.message}" if self.code else self.message
        return f"{text} (field {self.field})" if self.field else text


class ConnectionLost(ClientError):
    """The WebSocket closed before the subscription completed; re-subscribing may work."""


def websocket_url(url: str) -> str:
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return urlunsplit(parts._replace(scheme=scheme))


class GraphQLClient:
    """One server, one key; `async with` closes the HTTP connection pool."""

    def __init__(self, url: str = DEFAULT_URL, *, key: str | None = None, timeout: float = 30):
        if urlsplit(url).scheme not in {"http", "https"}:
            raise ClientError(f"--url must start with http:// or https://, not {url!r}")
        self.url = url
        self.key = key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.AsyncClient(headers=headers, timeout=timeout)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._http.aclose()

    async def execute(self, document: str, variables: Mapping[str, Any] | None = None) -> Any:
        """The `data` of the answer; the first error as a ClientError otherwise."""
        try:
            response = await self._http.post(
                self.url, json={"query": document, "variables": dict(variables or {})}
            )
        except httpx.HTTPError as error:
            raise ClientError(f"cannot reach {self.url}: {error or type(error).__name__}") from None
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        if isinstance(body, dict) and body.get("errors"):
            raise ClientError.from_graphql(body["errors"])
        if response.status_code != 200 or not isinstance(body, dict) or "data" not in body:
            raise ClientError(f"{self.url} answered HTTP {response.status_code}")
        return body["data"]

    async def subscribe(
        self, document: str, variables: Mapping[str, Any] | None = None
    ) -> AsyncIterator[Any]:
        """Each `data` the server sends until it completes the subscription."""
        url = websocket_url(self.url)
        try:
            async with connect(url, subprotocols=[PROTOCOL], open_timeout=10) as socket:
                await self._init(socket)
                async for data in self._operation(socket, document, variables):
                    yield data
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            reason = closed.rcvd.reason if closed.rcvd else ""
            if code in _CLOSE_CODES:
                raise ClientError(reason or "rejected", code=_CLOSE_CODES[code]) from None
            raise ConnectionLost(f"connection to {url} lost ({code or 'no close frame'})") from None
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as error:
            raise ClientError(f"cannot reach {url}: {error or type(error).__name__}") from None

    async def _init(self, socket: ClientConnection) -> None:
        payload = {"apiKey": self.key} if self.key else {}
        await _send(socket, {"type": "connection_init", "payload": payload})
        async with asyncio.timeout(10):
            while True:
                message = await _receive(socket)
                if message.get("type") == "connection_ack":
                    return
                if message.get("type") == "ping":
                    await _send(socket, {"type": "pong"})

    async def _operation(
        self, socket: ClientConnection, document: str, variables: Mapping[str, Any] | None
    ) -> AsyncIterator[Any]:
        op_id = str(next(_ids))
        payload = {"query": document, "variables": dict(variables or {})}
        await _send(socket, {"id": op_id, "type": "subscribe", "payload": payload})
        completed = False
        try:
            while True:
                message = await _receive(socket)
                kind = message.get("type")
                if kind == "ping":
                    await _send(socket, {"type": "pong"})
                elif message.get("id") != op_id:
                    continue
                elif kind == "next":
                    result = message.get("payload") or {}
                    if result.get("errors"):
                        raise ClientError.from_graphql(result["errors"])
                    yield result.get("data")
                elif kind == "error":
                    completed = True
                    raise ClientError.from_graphql(message.get("payload"))
                elif kind == "complete":
                    completed = True
                    return
        finally:
            if not completed:
                # Tell the server to stop its generator; the socket may be gone already.
                with suppress(ConnectionClosed, OSError):
                    await _send(socket, {"id": op_id, "type": "complete"})


_ids = itertools.count(1)


async def _send(socket: ClientConnection, message: Mapping[str, Any]) -> None:
    await socket.send(orjson.dumps(message).decode())


async def _receive(socket: ClientConnection) -> dict[str, Any]:
    raw = await socket.recv()
    message = orjson.loads(raw)
    if not isinstance(message, dict):
        raise ClientError(f"unexpected message from the server: {raw!r:.200}")
    return message
