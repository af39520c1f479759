"""The migrations build exactly the schema of the models, on PostgreSQL and on SQLite."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, Table, inspect, text
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


BEFORE_RENAME = "dee09be24b4f"


def _filler(column: Any) -> Any:
    """A value of the column's type for NOT NULL columns a test does not care about."""
    kind = type(column.type).__name__.upper()
    if "INT" in kind:
        return 0
    if "FLOAT" in kind or "NUMERIC" in kind or "REAL" in kind or "DOUBLE" in kind:
        return 0.0
    if "BOOL" in kind:
        return False
    if "JSON" in kind:
        return [] if column.name in {"raw", "quality_warnings"} else {}
    if "TIMESTAMP" in kind or "DATETIME" in kind:
        return datetime(2025, 1, 1, tzinfo=UTC)
    if kind == "DATE":
        return date(2025, 1, 1)
    return "x"


def _insert(connection: Connection, table_name: str, **values: Any) -> None:
    table = Table(table_name, MetaData(), autoload_with=connection)
    row = dict(values)
    for column in table.columns:
        if column.name in row or column.nullable or column.server_default is not None:
            continue
        if (
            column.primary_key
            and column.autoincrement in (True, "auto")
            and "INT" in str(column.type).upper()
        ):
            continue
        row[column.name] = _filler(column)
    connection.execute(table.insert().values(**row))


def _seed_form_references(connection: Connection) -> None:
    _insert(connection, "races", id="race_1_20250101_1", race_date=date(2025, 1, 1), meet=1,
            race_number=1)  # fmt: skip
    _insert(connection, "jobs", id="job_old", kind="PREDICT_RACES",
            parameters={"promptId": "base-prompt-v1.0", "date": "20250101"})  # fmt: skip
    _insert(connection, "evaluations", id=1, prompt_id="base-prompt-v1.0", job_id="job_old")
    _insert(connection, "predictions", race_id="race_1_20250101_1",
            prompt_id="base-prompt-v1.0", evaluation_id=1, run_key="evaluation:1")  # fmt: skip
    _insert(connection, "prompts", id="child-v1", name="child", version="v1", text="t",
            predictor="FORM", parameters={}, parent_id="base-prompt-v1.0")  # fmt: skip


def _references(connection: Connection) -> dict[str, Any]:
    def one(sql: str) -> Any:
        return connection.execute(text(sql)).scalar_one()

    prompts = {
        row.id: (row.predictor, bool(row.active), row.name)
        for row in connection.execute(text("SELECT id, predictor, active, name FROM prompts"))
    }
    parameters = one("SELECT parameters FROM jobs WHERE id = 'job_old'")
    return {
        "prediction": one("SELECT prompt_id FROM predictions"),
        "evaluation": one("SELECT prompt_id FROM evaluations"),
        "parent": one("SELECT parent_id FROM prompts WHERE id = 'child-v1'"),
        "job": (json.loads(parameters) if isinstance(parameters, str) else parameters)["promptId"],
        "prompts": prompts,
    }


async def test_the_form_weight_set_moves_to_its_form_name(empty_engine: AsyncEngine) -> None:
    await upgrade_engine(empty_engine, BEFORE_RENAME)
    async with empty_engine.begin() as connection:
        await connection.run_sync(_seed_form_references)
    await upgrade_engine(empty_engine)
    async with empty_engine.connect() as connection:
        after = await connection.run_sync(_references)
    form = "form-weights-v1.0"
    assert (after["prediction"], after["evaluation"], after["parent"], after["job"]) == (
        form, form, form, form)  # fmt: skip
    assert after["prompts"][form] == ("FORM", True, "form-weights")
    assert after["prompts"]["base-prompt-v1.0"] == ("LLM", False, "base-prompt")

    await downgrade_engine(empty_engine, BEFORE_RENAME)
    async with empty_engine.connect() as connection:
        before = await connection.run_sync(_references)
    old = "base-prompt-v1.0"
    assert (before["prediction"], before["evaluation"], before["parent"], before["job"]) == (
        old, old, old, old)  # fmt: skip
    assert before["prompts"][old] == ("FORM", True, "base-prompt")
    assert form not in before["prompts"]
