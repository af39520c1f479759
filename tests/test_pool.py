"""The connection pool under more concurrent checkouts than it holds."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from kra_graphql.config import Settings
from kra_graphql.db import create_engine

POOL = 2


async def test_checkouts_beyond_the_pool_wait_for_its_connections(settings: Settings) -> None:
    """Every statement runs, and all of them on the pool's own connections: a checkout
    beyond the pool neither fails nor opens a connection that is closed again on return."""
    engine = create_engine(settings.model_copy(update={"db_pool_size": POOL}))

    async def backend_pid() -> int:
        async with engine.connect() as connection:
            pid = await connection.scalar(text("SELECT pg_backend_pid() FROM pg_sleep(0.05)"))
        assert isinstance(pid, int)
        return pid

    try:
        pids: list[int] = []
        for wave in (POOL + 1, 4 * POOL, 4 * POOL):
            pids += await asyncio.gather(*(backend_pid() for _ in range(wave)))
    finally:
        await engine.dispose()
    assert len(pids) == POOL + 1 + 8 * POOL
    assert len(set(pids)) == POOL
