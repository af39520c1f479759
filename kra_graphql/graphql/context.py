"""What every resolver can reach: the process runtime, one lazy session, the loaders."""

from __future__ import annotations

import asyncio
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
from kra_graphql.graphql.request import OperationRequest
from kra_graphql.jobs.hub import JobEventHub
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.jobs.service import JobSubmitter
from kra_graphql.jobs.visibility import JobVisibility
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
    # Turns for executing queries (READ_CONCURRENCY); None: no limit.
    reads: asyncio.Semaphore | None = None


class Context:
    def __init__(
        self,
        services: ApiServices,
        request: Request | WebSocket | None = None,
        principal: Principal | None = None,
        http: OperationRequest | None = None,
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
        self.reads = services.reads
        self.request = request
        # Over HTTP, the request as the guard read it.
        self.http = http
        self._lock = asyncio.Lock()

    @property
    def authorized(self) -> bool:
        """Whether the HTTP guard has already authorized the operation being run."""
        return self.http is not None and self.http.operation is not None

    @property
    def submitter(self) -> str | None:
        """Recorded on the jobs this caller submits: the key's name, never the key."""
        return self.principal.name

    @property
    def job_visibility(self) -> JobVisibility:
        """Which jobs this caller sees (read anew: a WebSocket's caller is known only
        once connection_init has proven its key)."""
        return JobVisibility.of(self.principal)

    @cached_property
    def loaders(self) -> Loaders:
        """Built on first use: mutations and subscriptions mostly need none."""
        return Loaders(self.read)

    async def read(self, query: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run a query on a session of its own, which holds a pooled connection only while
        the query runs: a request spends most of its time building its answer, and a
        connection held for all of it made 50 concurrent requests need 50 connections.
        Sibling resolvers run concurrently; their reads take turns."""
        async with self._lock, self.runtime.autocommit() as session:
            return await query(session)

    def forget_loaders(self) -> None:
        """The next operation, or the next event of a subscription, must not see the
        rows loaded so far: the data moves between them."""
        self.__dict__.pop("loaders", None)

    async def close(self) -> None:
        self.forget_loaders()
