"""Clients that live as long as a process: created once at start-up, closed on shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from kra_graphql.config import Settings, SettingsError
from kra_graphql.db import create_engine, create_sessionmaker, unit_of_work
from kra_graphql.reads import DIRECT_READS


@dataclass(slots=True)
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    # No transaction: each statement commits on its own. For API reads, and for writes
    # that are one statement; it saves the round trips of BEGIN and COMMIT or ROLLBACK.
    autocommit: async_sessionmaker[AsyncSession]
    redis: Redis

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        engine = create_engine(settings)
        return cls(
            settings=settings,
            engine=engine,
            sessions=create_sessionmaker(engine),
            autocommit=create_sessionmaker(
                engine.execution_options(
                    isolation_level="AUTOCOMMIT", **{DIRECT_READS: settings.fast_path.reads}
                )
            ),
            redis=Redis.from_url(require_redis_url(settings), socket_timeout=5),
        )

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One transaction over race data; once committed, cached API answers are stale."""
        async with unit_of_work(self.sessions) as session:
            yield session
        await self.redis.incr(data_version_key(self.settings.redis_prefix))

    async def data_version(self) -> int:
        return int(await self.redis.get(data_version_key(self.settings.redis_prefix)) or 0)

    async def close(self) -> None:
        await self.redis.aclose()
        await self.engine.dispose()


def data_version_key(prefix: str) -> str:
    return f"{prefix}data-version"


def require_redis_url(settings: Settings) -> str:
    if settings.redis_url is None:
        raise SettingsError(
            "invalid setting REDIS_URL: not set (only `kra-graphql dev` starts its own Redis)"
        )
    return settings.redis_url
