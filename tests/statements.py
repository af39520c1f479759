"""Counting the SQL statements a piece of code sends, whichever way it sends them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


class StatementCount:
    def __init__(self) -> None:
        self.value = 0

    def add(self, *_: Any) -> None:
        self.value += 1


@contextmanager
def counting_statements(engine: AsyncEngine) -> Iterator[StatementCount]:
    """Statements run through SQLAlchemy (its cursor events) and reads sent straight to
    asyncpg (its query loggers, on every connection checked out meanwhile)."""
    count = StatementCount()
    drivers: list[Any] = []

    def checkout(dbapi_connection: Any, *_: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        if driver is not None and hasattr(driver, "add_query_logger"):
            driver.add_query_logger(count.add)
            drivers.append(driver)

    sync_engine = engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", count.add)
    event.listen(sync_engine.pool, "checkout", checkout)
    try:
        yield count
    finally:
        event.remove(sync_engine.pool, "checkout", checkout)
        event.remove(sync_engine, "before_cursor_execute", count.add)
        for driver in drivers:
            driver.remove_query_logger(count.add)
