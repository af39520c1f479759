"""Clients that live as long as a process: created once at start-up, closed on shutdown."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from kra_graphql.config import Settings, SettingsError
from kra_graphql.db import create_engine, create_sessionmaker


@dataclass(slots=True)
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        engine = create_engine(settings)
        return cls(
            settings=settings,
            engine=engine,
            sessions=create_sessionmaker(engine),
            redis=Redis.from_url(require_redis_url(settings), socket_timeout=5),
        )

    async def close(self) -> None:
        await self.redis.aclose()
        await self.engine.dispose()


def require_redis_url(settings: Settings) -> str:
    if settings.redis_url is None:
        raise SettingsError(
            "invalid setting REDIS_URL: not set (only `kra-graphql dev` starts its own Redis)"
        )
    return settings.redis_url
