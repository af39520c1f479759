"""Reads sent straight to asyncpg return what SQLAlchemy would, and only where they may."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import DBAPIError
from sqlmodel import col

from kra_graphql.db import create_sessionmaker
from kra_graphql.races import queries
from kra_graphql.races.models import Horse, Race
from kra_graphql.reads import DIRECT_READS, fetch_all, reused
from kra_graphql.runtime import Runtime
from tests.factories import Seeded, remove, seed_races, unused_day
from tests.statements import StatementCount


@pytest.fixture(scope="module")
async def seeded(runtime: Runtime) -> AsyncIterator[Seeded]:
    seeded = await seed_races(runtime, days=[unused_day()], meets=(1, 2), runners=3)
    yield seeded
    await remove(runtime, seeded)


@pytest.fixture(scope="module")
def direct(runtime: Runtime) -> Runtime:
    """The runtime with the fast path's direct reads on, whatever the environment asks."""
    options = {"isolation_level": "AUTOCOMMIT", DIRECT_READS: True}
    autocommit = create_sessionmaker(runtime.engine.execution_options(**options))
    return dataclasses.replace(runtime, autocommit=autocommit)


def _through_sqlalchemy(runtime: Runtime) -> StatementCount:
    count = StatementCount()
    event.listen(runtime.engine.sync_engine, "before_cursor_execute", count.add)
    return count


def _stop(runtime: Runtime, count: StatementCount) -> None:
    event.remove(runtime.engine.sync_engine, "before_cursor_execute", count.add)


async def _ordinary(
    runtime: Runtime, statement: Any, params: dict[str, Any]
) -> list[tuple[Any, ...]]:
    async with runtime.sessions() as session:
        return [tuple(row) for row in await session.execute(statement, params)]


async def test_direct_rows_equal_sqlalchemy_rows(
    runtime: Runtime, direct: Runtime, seeded: Seeded
) -> None:
    race_ids = [race.id for race in seeded.races]
    horse_nos = [horse.horse_no for horse in seeded.horses]
    entries, _, _ = queries._entries_with(frozenset({"horse", "jockey", "trainer"}))
    horses = reused(queries.served(Horse).where(col(Horse.horse_no).in_(queries._KEYS)))
    count = _through_sqlalchemy(runtime)
    try:
        async with direct.autocommit() as session:
            direct_entries = [
                tuple(row) for row in await fetch_all(session, entries, {"keys": race_ids})
            ]
            direct_horses = [
                tuple(row) for row in await fetch_all(session, horses, {"keys": horse_nos})
            ]
    finally:
        _stop(runtime, count)
    assert count.value == 0  # neither went through SQLAlchemy's cursor
    assert len(direct_entries) == 3 * len(race_ids)
    assert direct_entries == await _ordinary(runtime, entries, {"keys": race_ids})
    assert sorted(direct_horses) == sorted(await _ordinary(runtime, horses, {"keys": horse_nos}))
    # Values keep their Python types: timestamps aware, numbers as numbers.
    created_at = direct_horses[0][0]
    assert created_at.tzinfo is not None


async def test_only_reused_statements_in_autocommit_sessions_go_direct(
    runtime: Runtime, direct: Runtime, seeded: Seeded
) -> None:
    race_ids = [race.id for race in seeded.races]
    built_per_call = select(col(Race.id)).where(col(Race.id).in_(race_ids))
    kept = reused(select(col(Race.id)).where(col(Race.id).in_(queries._KEYS)))
    count = _through_sqlalchemy(runtime)
    try:
        async with direct.autocommit() as session:
            assert len(await fetch_all(session, built_per_call)) == len(race_ids)
        assert count.value == 1
        async with runtime.sessions() as session, session.begin():
            # In a transaction the statement must see the transaction's own writes.
            assert len(await fetch_all(session, kept, {"keys": race_ids})) == len(race_ids)
        assert count.value == 2
    finally:
        _stop(runtime, count)


async def test_a_broken_connection_is_left_to_sqlalchemy(
    runtime: Runtime, direct: Runtime, seeded: Seeded
) -> None:
    """The direct read fails, the ordinary path meets the same broken connection, and
    SQLAlchemy invalidates it: the error is SQLAlchemy's, and the next read works."""
    race_ids = [race.id for race in seeded.races]
    statement = reused(queries.served(Race).where(col(Race.id).in_(queries._KEYS)))
    async with direct.autocommit() as session:
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        driver.terminate()
        with pytest.raises(DBAPIError) as failure:
            await fetch_all(session, statement, {"keys": race_ids})
        assert failure.value.connection_invalidated
    async with direct.autocommit() as session:
        assert len(await fetch_all(session, statement, {"keys": race_ids})) == len(race_ids)
