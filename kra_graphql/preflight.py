"""Fail fast: check settings and dependencies before a process starts serving."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from kra_graphql.config import Settings
from kra_graphql.db import create_engine
from kra_graphql.runtime import require_redis_url

TIMEOUT_S = 5.0


class PreflightError(Exception):
    """One line naming the setting and what is wrong with it."""


def redacted(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


async def check_database(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        async with asyncio.timeout(TIMEOUT_S), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as error:
        reason = _reason(error)
        raise PreflightError(
            f"cannot reach DATABASE_URL ({redacted(settings.database_url)}): {reason}"
        ) from None
    finally:
        await engine.dispose()


async def check_redis(settings: Settings) -> None:
    url = require_redis_url(settings)
    client: Redis = Redis.from_url(url, socket_connect_timeout=TIMEOUT_S)
    try:
        async with asyncio.timeout(TIMEOUT_S):
            await client.ping()
    except Exception as error:
        raise PreflightError(
            f"cannot reach REDIS_URL ({redacted(url)}): {_reason(error)}"
        ) from None
    finally:
        await client.aclose()


async def check_all(settings: Settings, *, redis: bool = True) -> None:
    await check_database(settings)
    if redis:
        await check_redis(settings)


def _reason(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {TIMEOUT_S:g} s"
    text_ = str(error).strip().splitlines()
    return text_[0] if text_ else type(error).__name__
