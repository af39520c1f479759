"""The migrations build exactly the schema of the models, on PostgreSQL and on SQLite."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from kra_graphql.config import Settings
from kra_graphql.db import create_engine
from kra_graphql.migrate import downgrade_engine, upgrade_engine
from kra_graphql.models import metadata
from tests.conftest import RUN_ID, create_database, drop_database


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


@pytest.fixture(params=["postgresql", "sqlite"])
async def empty_engine(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        engine = create_engine(Settings(database_url=f"sqlite:///{tmp_path}/migrations.db"))
        yield engine
        await engine.dispose()
        return
    name = f"kra_test_{RUN_ID}_mig_{uuid.uuid4().hex[:6]}"
    url = await create_database(name)
    engine = create_engine(Settings(database_url=url))
    try:
        yield engine
    finally:
        await engine.dispose()
        await drop_database(name)


async def test_upgrade_builds_the_models_schema(empty_engine: AsyncEngine) -> None:
    await upgrade_engine(empty_engine)
    async with empty_engine.connect() as connection:
        assert await connection.run_sync(_differences) == []
        tables = await connection.run_sync(_tables)
    assert set(metadata.tables) <= tables


async def test_downgrade_to_base_and_upgrade_again(empty_engine: AsyncEngine) -> None:
    await upgrade_engine(empty_engine)
    await downgrade_engine(empty_engine, "base")
    async with empty_engine.connect() as connection:
        assert await connection.run_sync(_tables) <= {"alembic_version"}
    await upgrade_engine(empty_engine)
    async with empty_engine.connect() as connection:
        assert await connection.run_sync(_differences) == []
