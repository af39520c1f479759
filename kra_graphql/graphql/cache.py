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
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType, parse
from redis.exceptions import RedisError
from starlette.types import Message, Receive, Scope, Send

from kra_graphql.access.keys import Principal
from kra_graphql.logging import get_logger
from kra_graphql.runtime import Runtime

log = get_logger(__name__)

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Root fields whose answers depend on race data only.
CACHEABLE_ROOTS = frozenset(
    {
        "races", "race", "horses", "horse", "jockeys", "jockey", "trainers", "trainer",
        "collectionStatus", "prompts", "predictions", "evaluations", "__typename",
    }
)  # fmt: skip
MAX_ENTRIES = 2048
# Where the HTTP guard leaves a POSTed JSON body it decoded, for what follows to use as is.
POSTED = "graphql_posted"
MAX_BODY = 1 << 20
# Documents longer than this are never worth caching, nor parsing here.
MAX_TOKENS = 2000


def cacheable_document(query: str, operation_name: str | None) -> bool:
    try:
        document = parse(query, no_location=True, max_lexical_tokens=MAX_TOKENS)
    except GraphQLError:
        return False
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation is not OperationType.QUERY:
        return False
    selections = operations[0].selection_set.selections
    return all(isinstance(s, FieldNode) and s.name.value in CACHEABLE_ROOTS for s in selections)


class ResponseCache:
    def __init__(self, runtime: Runtime, *, max_entries: int = MAX_ENTRIES) -> None:
        self.runtime = runtime
        self._max_entries = max_entries
        self._answers: OrderedDict[bytes, tuple[int, bytes]] = OrderedDict()
        self._documents: OrderedDict[tuple[str, str | None], bool] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def key(self, request: object, scope: Scope) -> bytes | None:
        """`request`: the decoded JSON body."""
        if not isinstance(request, dict) or not isinstance(request.get("query"), str):
            return None
        query: str = request["query"]
        operation = request.get("operationName")
        if not isinstance(operation, str | None) or not self._cacheable(query, operation):
            return None
        principal = scope.get("state", {}).get("principal")
        if not isinstance(principal, Principal):
            return None
        material = orjson.dumps(
            [query, request.get("variables"), operation, sorted(principal.scopes)],
            option=orjson.OPT_SORT_KEYS,
        )
        return hashlib.blake2b(material, digest_size=16).digest()

    def _cacheable(self, query: str, operation: str | None) -> bool:
        document_key = (query, operation)
        known = self._documents.get(document_key)
        if known is None:
            known = cacheable_document(query, operation)
            self._remember(self._documents, document_key, known)
        return known

    def get(self, key: bytes, version: int) -> bytes | None:
        found = self._answers.get(key)
        if found is None or found[0] != version:
            self.misses += 1
            return None
        self._answers.move_to_end(key)
        self.hits += 1
        return found[1]

    def put(self, key: bytes, version: int, body: bytes) -> None:
        if len(body) <= MAX_BODY:
            self._remember(self._answers, key, (version, body))

    def _remember(self, store: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        store[key] = value
        store.move_to_end(key)
        while len(store) > self._max_entries:
            store.popitem(last=False)


class CachedView:
    """Serve cached answers to POSTed read-only queries; everything else goes to `view`.

    The cache lives on the application state (`app.state.cache`), created at start-up;
    None turns caching off. (A class, so Starlette routes to it as an ASGI app.)
    """

    def __init__(self, view: ASGIApp) -> None:
        self.view = view

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cache: ResponseCache | None = scope["app"].state.cache
        if cache is None or scope["type"] != "http" or scope["method"] != "POST":
            await self.view(scope, receive, send)
            return
        body = await _read_body(receive)
        key = cache.key(scope.get("state", {}).get(POSTED), scope)
        if key is None:
            await self.view(scope, replay_body(body), send)
            return
        try:
            version = await cache.runtime.data_version()
        except (RedisError, OSError) as error:
            # Without the data version no answer can be trusted: answer fresh.
            log.warning("response_cache.unavailable", error=type(error).__name__)
            await self.view(scope, replay_body(body), send)
            return
        cached = cache.get(key, version)
        if cached is not None:
            await _send_json(send, cached)
            return

        def store(answer: bytes) -> None:
            cache.put(key, version, answer)

        await self.view(scope, replay_body(body), capture_answer(send, store))


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


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
