"""Helpers for tests of access control: keys, raw HTTP posts, raw WebSocket handshakes."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from typing import Any

import httpx
import websockets
from gql.transport.websockets import WebsocketsTransport
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kra_graphql.access.keys import Scope, create_key

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"


async def new_key(
    sessions: async_sessionmaker[AsyncSession], *scopes: Scope, name: str | None = None
) -> tuple[str, str]:
    """A fresh key in the database: (name, key)."""
    name = name or f"t-{uuid.uuid4().hex[:10]}"
    created = await create_key(sessions, name, scopes)
    return name, created.key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def post(
    api_url: str,
    query: str,
    *,
    key: str | None = None,
    headers: Mapping[str, str | bytes] | None = None,
    variables: dict[str, Any] | None = None,
) -> httpx.Response:
    merged: dict[str, str | bytes] = {**(bearer(key) if key else {}), **(headers or {})}
    sent = [(k.encode(), v if isinstance(v, bytes) else v.encode()) for k, v in merged.items()]
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        return await client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=sent
        )


def codes(response: httpx.Response) -> list[str]:
    return [error["extensions"]["code"] for error in response.json().get("errors", [])]


def ws_url(api_url: str) -> str:
    return api_url.replace("http://", "ws://") + "/graphql"


def ws_transport(
    api_url: str, key: str, protocol: str = WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL
) -> WebsocketsTransport:
    """gql's WebSocket transport to the server at `api_url`, proving `key` on connect."""
    return WebsocketsTransport(
        url=ws_url(api_url), subprotocols=[protocol], init_payload={"apiKey": key}
    )


async def ws_exchange(
    api_url: str,
    protocol: str,
    payload: dict[str, Any] | None,
    *,
    subscribe: str | None = None,
    wait_s: float = 10,
) -> tuple[list[dict[str, Any]], int | None]:
    """connection_init (and at once a subscription), then every message until the close.

    Returns the messages received and the close code (None if still open after `wait_s`).
    """
    messages: list[dict[str, Any]] = []
    async with websockets.connect(ws_url(api_url), subprotocols=[protocol]) as socket:  # type: ignore[list-item]
        init: dict[str, Any] = {"type": "connection_init"}
        if payload is not None:
            init["payload"] = payload
        await socket.send(json.dumps(init))
        if subscribe is not None:
            kind = "subscribe" if protocol == TRANSPORT_WS else "start"
            await socket.send(
                json.dumps({"id": "1", "type": kind, "payload": {"query": subscribe}})
            )
        try:
            while True:
                messages.append(json.loads(await asyncio.wait_for(socket.recv(), wait_s)))
        except websockets.ConnectionClosed as closed:
            return messages, closed.rcvd.code if closed.rcvd else None
        except TimeoutError:
            return messages, None
