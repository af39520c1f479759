"""WebSocket subscribers for the fan-out scenario of `bench/graphql.py`, one process.

    python -m bench.fanout_client ws://127.0.0.1:8000/graphql COUNT 'subscription { … }' KEY

Opens COUNT graphql-transport-ws connections, subscribes each to the given document and
waits for every subscription's first message (the job snapshot). Then it prints one JSON
line `{"ready": …}` and waits for a line `finish SECONDS` on stdin: from then on it gives
the subscriptions up to SECONDS to complete, and prints one JSON line of results: each
subscriber as [deliveries, PROGRESS deliveries, progress of the last PROGRESS delivery,
terminal receipt time on the monotonic clock or null, terminal status, completed, error],
and the CPU time this process used after the ready line (the events arrive in that window).

Deliberately cheap: the plain `websockets` client, no compression, no keep-alive pings,
uvloop when installed, one orjson parse per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import sys
import time
from dataclasses import dataclass
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

PROTOCOL = Subprotocol("graphql-transport-ws")
TERMINAL = {"COMPLETED", "PARTIAL", "FAILED", "CANCELLED"}
CONNECTING_AT_ONCE = 50
HANDSHAKE_TIMEOUT_S = 60


@dataclass
class Subscriber:
    deliveries: int = 0
    progress_deliveries: int = 0
    last_progress: int | None = None
    terminal_at: float | None = None
    terminal_status: str | None = None
    completed: bool = False
    error: str | None = None

    def on_next(self, payload: dict[str, Any], received_at: float) -> None:
        if payload.get("errors"):
            self.error = orjson.dumps(payload["errors"]).decode()[:300]
        event = (payload.get("data") or {}).get("jobProgress")
        if event is None:
            return
        self.deliveries += 1
        job = event["job"]
        if event["type"] == "PROGRESS":
            self.progress_deliveries += 1
            self.last_progress = job["progress"]
        if event["type"] == "STATUS" and job["status"] in TERMINAL and self.terminal_at is None:
            self.terminal_at = received_at
            self.terminal_status = job["status"]

    def row(self) -> list[Any]:
        return [
            self.deliveries,
            self.progress_deliveries,
            self.last_progress,
            self.terminal_at,
            self.terminal_status,
            self.completed,
            self.error,
        ]


async def open_subscription(url: str, query: str, key: str) -> ClientConnection:
    ws = await connect(
        url,
        subprotocols=[PROTOCOL],
        compression=None,
        ping_interval=None,
        proxy=None,
        open_timeout=HANDSHAKE_TIMEOUT_S,
        max_queue=None,
    )
    init = {"type": "connection_init", "payload": {"apiKey": key}}
    await ws.send(orjson.dumps(init).decode())
    ack = orjson.loads(await ws.recv())
    if ack.get("type") != "connection_ack":
        raise RuntimeError(f"no connection_ack: {ack}")
    subscribe = {"id": "1", "type": "subscribe", "payload": {"query": query}}
    await ws.send(orjson.dumps(subscribe).decode())
    return ws


async def handle(ws: ClientConnection, raw: str | bytes, sub: Subscriber) -> bool:
    """One server message; True once the subscription is over."""
    received_at = time.monotonic()
    message = orjson.loads(raw)
    kind = message.get("type")
    if kind == "next":
        sub.on_next(message["payload"], received_at)
    elif kind == "complete":
        sub.completed = True
        return True
    elif kind == "error":
        sub.error = orjson.dumps(message.get("payload")).decode()[:300]
        return True
    elif kind == "ping":
        await ws.send('{"type":"pong"}')
    return False


async def subscribe(
    url: str, query: str, key: str, sub: Subscriber, gate: asyncio.Semaphore, ready: asyncio.Event
) -> None:
    ws: ClientConnection | None = None
    try:
        async with gate:
            ws = await open_subscription(url, query, key)
            done = await handle(ws, await ws.recv(), sub)
        ready.set()
        while not done:
            done = await handle(ws, await ws.recv(), sub)
    except Exception as error:
        sub.error = sub.error or f"{type(error).__name__}: {error}"[:300]
    finally:
        ready.set()
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def read_line() -> str:
    return await asyncio.to_thread(sys.stdin.readline)


async def main(url: str, count: int, query: str, key: str) -> None:
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE)
    subs = [Subscriber() for _ in range(count)]
    readies = [asyncio.Event() for _ in range(count)]
    started = time.monotonic()
    tasks = [
        asyncio.create_task(subscribe(url, query, key, sub, gate, ready))
        for sub, ready in zip(subs, readies, strict=True)
    ]
    await asyncio.gather(*(ready.wait() for ready in readies))
    failed = [sub.error for sub in subs if sub.error]
    ready_line = {
        "ready": count - len(failed),
        "failed": len(failed),
        "first_error": failed[0] if failed else None,
        "connect_s": time.monotonic() - started,
    }
    print(orjson.dumps(ready_line).decode(), flush=True)
    cpu_before, wall_before = cpu_seconds(), time.monotonic()

    command = (await read_line()).split()
    finish_s = float(command[1]) if len(command) == 2 and command[0] == "finish" else 0.0
    _, pending = await asyncio.wait(tasks, timeout=finish_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    results = {
        "subscribers": [sub.row() for sub in subs],
        "cpu_s": cpu_seconds() - cpu_before,
        "wall_s": time.monotonic() - wall_before,
    }
    print(orjson.dumps(results).decode(), flush=True)


def run() -> None:
    url, count, query, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(url, count, query, key))
    else:
        uvloop.run(main(url, count, query, key))


if __name__ == "__main__":
    run()
