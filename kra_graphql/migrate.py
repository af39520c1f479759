"""Apply the Alembic migrations in `migrations/` from code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from kra_graphql.config import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(settings: Settings | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["configure_logging"] = False
    if settings is not None:
        config.attributes["settings"] = settings
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Run from synchronous code (the CLI); env.py runs its own event loop."""
    command.upgrade(alembic_config(settings), revision)


async def upgrade_engine(engine: AsyncEngine, revision: str = "head") -> None:
    await _run_on(engine, lambda config: command.upgrade(config, revision))


async def downgrade_engine(engine: AsyncEngine, revision: str = "base") -> None:
    await _run_on(engine, lambda config: command.downgrade(config, revision))


async def _run_on(engine: AsyncEngine, run: Callable[[Config], None]) -> None:
    def in_connection(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        run(config)

    async with engine.begin() as connection:
        await connection.run_sync(in_connection)
