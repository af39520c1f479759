"""Answers to read-only queries over race data, kept while the data version is unchanged.

Every committed write to race data bumps a version number in Redis (`Runtime.write`). An
answer is stored with the version read before it was computed, so an answer computed
while data changed is never served as current. Queries touching jobs or health are
never cached: they change without any race data changing. The key includes the scopes
the HTTP guard proved for the caller (never raw headers), so an answer is only shared by
callers allowed to see the same things; the guard has checked the key, its scopes and
its rate budget before this cache is asked at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

import orjson
from graphql import OperationType
from redis.exceptions import RedisError
from starlette.types import Message, Receive, Scope, Send

from kra_graphql.graphql.document import Operation
from kra_graphql.graphql.request import OperationRequest
from kra_graphql.logging import get_logger
from kra_graphql.lru import LRU
from kra_graphql.runtime import Runtime

log = get_logger(__name__)

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Root fields whose answers depend on race data only.
CACHEABLE_ROOTS = frozenset(
    {
        "races", "race", "horses", "horse", "jockeys", "jockey", "trainers", "trainer",
        "prompts", "predictions", "evaluations", "__typename",
    }
)  # fmt: skip
# collectionStatus is not among them: it reads the jobs of the day too.
MAX_ENTRIES = 2048
MAX_BODY = 1 << 20


def cacheable(operation: Operation | None) -> bool:
    return (
        operation is not None
        and operation.type is OperationType.QUERY
        and operation.plain_roots
        and operation.fields <= CACHEABLE_ROOTS
    )


class ResponseCache:
    def __init__(self, runtime: Runtime, *, max_entries: int = MAX_ENTRIES) -> None:
        self.runtime = runtime
        self._answers: LRU[bytes, tuple[int, bytes]] = LRU(max_entries)
        self.hits = 0
        self.misses = 0

    def key(self, request: OperationRequest) -> bytes | None:
        """None for what is never cached: anything but a JSON POST of a race-data query."""
        posted = request.posted
        if posted is None or request.query is None or not cacheable(request.operation):
            return None
        material = orjson.dumps(
            [
                request.query,
                posted.get("variables"),
                request.operation_name,
                sorted(request.principal.scopes),
            ],
            option=orjson.OPT_SORT_KEYS,
        )
        return hashlib.blake2b(material, digest_size=16).digest()

    def get(self, key: bytes, version: int) -> bytes | None:
        found = self._answers.get(key)
        if found is None or found[0] != version:
            self.misses += 1
            return None
        self.hits += 1
        return found[1]

    def put(self, key: bytes, version: int, body: bytes) -> None:
        if len(body) <= MAX_BODY:
            self._answers.put(key, (version, body))


class CachedView:
    """Serve cached answers to POSTed read-only queries; everything else goes to `view`.

    The cache lives on the application state (`app.state.cache`), created at start-up;
    None turns caching off. (A class, so Starlette routes to it as an ASGI app.)
    """

    def __init__(self, view: ASGIApp) -> None:
        self.view = view

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cache: ResponseCache | None = scope["app"].state.cache
        request = OperationRequest.of(scope)
        key = cache.key(request) if cache is not None and request is not None else None
        if cache is None or key is None:
            await self.view(scope, receive, send)
            return
        try:
            version = await cache.runtime.data_version()
        except (RedisError, OSError) as error:
            # Without the data version no answer can be trusted: answer fresh.
            log.warning("response_cache.unavailable", error=type(error).__name__)
            await self.view(scope, receive, send)
            return
        cached = cache.get(key, version)
        if cached is not None:
            await _send_json(send, cached)
            return

        def store(answer: bytes) -> None:
            cache.put(key, version, answer)

        await self.view(scope, receive, capture_answer(send, store))


def replay_body(body: bytes) -> Receive:
    """A `receive` that hands over a body already read, once, as the only request message."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def capture_answer(send: Send, store: Callable[[bytes], None]) -> Send:
    """Pass the response through; keep its body if it is a complete, error-free answer."""
    status = 0
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False) and status == 200:
                answer = b"".join(chunks)
                if b'"errors"' not in answer or "errors" not in orjson.loads(answer):
                    store(answer)
        await send(message)

    return capture


async def _send_json(send: Send, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
