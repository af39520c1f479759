"""What every resolver can reach: the process runtime, one lazy session, the loaders."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.websockets import WebSocket

from kra_graphql.access.control import AccessControl
from kra_graphql.access.keys import Principal, anonymous
from kra_graphql.graphql.loaders import Loaders
from kra_graphql.jobs.hub import JobEventHub
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.jobs.service import JobSubmitter
from kra_graphql.prediction.service import Predictors
from kra_graphql.runtime import Runtime

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ApiServices:
    """What the API process creates once at start-up and shares between requests."""

    runtime: Runtime
    queue: JobQueue
    jobs: JobSubmitter
    hub: JobEventHub
    predictors: Predictors
    # None in-process (tests, tools): callers are then anonymous and unlimited.
    access: AccessControl | None = None


class Context:
    def __init__(
        self,
        services: ApiServices,
        request: Request | WebSocket | None = None,
        principal: Principal | None = None,
    ) -> None:
        self.runtime = services.runtime
        self.access = services.access
        # Over WebSocket, replaced once connection_init has proven a key.
        self.principal = principal or (
            services.access.anonymous
            if services.access is not None
            else anonymous(read=services.runtime.settings.allows_anonymous_read)
        )
        # Filled by Strawberry from connection_init on WebSocket connections.
        self.connection_params: dict[str, object] | None = None
        self.queue = services.queue
        self.jobs = services.jobs
        self.hub = services.hub
        self.predictors = services.predictors
        self.request = request
        self._session: AsyncSession | None = None
        self._closed = False
        self._lock = asyncio.Lock()

    @property
    def submitter(self) -> str | None:
        """Recorded on the jobs this caller submits: the key's name, never the key."""
        return self.principal.name

    @cached_property
    def loaders(self) -> Loaders:
        """Built on first use: mutations and subscriptions mostly need none."""
        return Loaders(self.read)

    async def read(self, query: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run a query on the request's session, opened on first use, closed after the
        operation. Sibling resolvers run concurrently and a session allows one statement at
        a time, so their queries take turns on the one connection."""
        async with self._lock:
            if self._closed:
                # A resolver still running after the operation ended (a sibling failed a
                # non-null field): its answer is discarded, but its session must not leak.
                async with self.runtime.autocommit() as session:
                    return await query(session)
            if self._session is None:
                self._session = self.runtime.autocommit()
            return await query(self._session)

    def for_event(self) -> Context:
        """A context for answering one subscription event: the connection's caller and
        services, with its own loaders and session, since the data moves between events."""
        event = copy.copy(self)
        event.__dict__.pop("loaders", None)
        event._session = None
        event._closed = False
        event._lock = asyncio.Lock()
        return event

    async def close(self) -> None:
        # A root field that fails non-null ends the operation while sibling resolvers may
        # still be reading: wait for the statement in flight rather than close under it.
        async with self._lock:
            self._closed = True
            # The next operation on the same WebSocket connection must not see this one's
            # cached rows.
            self.__dict__.pop("loaders", None)
            if self._session is not None:
                session, self._session = self._session, None
                await session.close()
