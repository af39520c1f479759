"""What every resolver can reach: the process runtime, one lazy session, the loaders."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.websockets import WebSocket

from kra_graphql.graphql.loaders import Loaders
from kra_graphql.runtime import Runtime


class Context:
    def __init__(self, runtime: Runtime, request: Request | WebSocket | None = None) -> None:
        self.runtime = runtime
        self.request = request
        self._session: AsyncSession | None = None
        self.loaders = Loaders(self.session)

    async def session(self) -> AsyncSession:
        """The request's read session, opened on first use and closed after the operation."""
        if self._session is None:
            self._session = self.runtime.sessions()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
