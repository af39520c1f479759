"""The replay server under a real uvicorn on 127.0.0.1, and clients pointed at it."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from kra_graphql.kra.client import KraClient
from kra_graphql.kra.replay import ReplayState, create_replay_app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kra"


def load_items(phase: str, rc_date: str, meet: int, rc_no: int) -> list[dict[str, Any]]:
    """The items of one recorded race file, as a list."""
    path = FIXTURES / phase / rc_date / str(meet) / f"{rc_no}.json"
    item = json.loads(path.read_text(encoding="utf-8"))["response"]["body"]["items"]["item"]
    return item if isinstance(item, list) else [item]


def load_envelope(*parts: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURES.joinpath(*parts).read_text(encoding="utf-8"))
    return data


@dataclass
class ReplayServer:
    base_url: str
    state: ReplayState
    http: httpx.AsyncClient

    async def admin(self, method: str, path: str, payload: object = None) -> Any:
        response = await self.http.request(method, f"{self.base_url}/_admin/{path}", json=payload)
        response.raise_for_status()
        return response.json()

    async def fault(self, kind: str, count: int = 1, **extra: object) -> None:
        await self.admin("POST", "faults", {"kind": kind, "count": count, **extra})

    async def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = await self.admin("GET", "stats")
        return stats


@asynccontextmanager
async def running_replay(http: httpx.AsyncClient, **options: Any) -> AsyncIterator[ReplayServer]:
    """A replay server on a free loopback port for the duration of the block."""
    app = create_replay_app(FIXTURES, **options)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Without it, small answers wait on delayed ACKs (~40 ms a request).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.005)
        yield ReplayServer(f"http://127.0.0.1:{port}", app.state.replay, http)
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture(scope="session")
async def shared_replay(http: httpx.AsyncClient) -> AsyncIterator[ReplayServer]:
    async with running_replay(http, slow_s=1.0) as server:
        yield server


@pytest.fixture
async def replay(shared_replay: ReplayServer) -> ReplayServer:
    """The session's replay server, back at its starting state."""
    shared_replay.state.reset()
    return shared_replay


@dataclass
class Calls:
    """What the client reported through `on_call`."""

    seen: list[tuple[str, str, float]] = field(default_factory=list)

    def __call__(self, endpoint: str, outcome: str, seconds: float) -> None:
        self.seen.append((endpoint, outcome, seconds))

    @property
    def outcomes(self) -> list[str]:
        return [outcome for _, outcome, _ in self.seen]


ClientFactory = Callable[..., KraClient]


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def make_client(http: httpx.AsyncClient, calls: Calls) -> ClientFactory:
    """KraClients with test-sized backoffs and timeouts, reporting into `calls`."""

    def make(server: ReplayServer, **overrides: Any) -> KraClient:
        options: dict[str, Any] = {
            "base_url": server.base_url,
            "api_key": None,
            "http": http,
            "max_attempts": 4,
            "backoff_base_s": 0.01,
            "backoff_max_s": 0.05,
            "timeout_s": 0.5,
            "on_call": calls,
        }
        options.update(overrides)
        return KraClient(**options)

    return make
