"""Reused statements sent straight to asyncpg, their rows handed over as plain tuples.

A page of races with its entries and their people is about 200 rows of 65 columns.
asyncpg decodes them in about 1.7 ms; SQLAlchemy's result layer on top doubled that, and
the ORM session's handling of a Core select added as much again. For the API's reads
(autocommit sessions, no transaction to share) the statement is compiled by SQLAlchemy as
usual, once, and its final SQL and parameters go to asyncpg; values still pass through
the column types' result processors where a type has one.

Private or undocumented names used: SQLAlchemy's `SQLCompiler.construct_expanded_state`
(and the state's `processors`, `parameters`, `positiontup`, `statement`) and
`AdaptedConnection.driver_connection`; asyncpg's `Connection.prepare`, `fetch` and
`PreparedStatement.get_attributes`. Checked against SQLAlchemy 2.1 and asyncpg 0.32.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Dialect, Select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler

from kra_graphql.lru import IdentityLRU

Processor = Callable[[Any], Any]
COMPILED_CACHE_SIZE = 256


class _Compiled:
    """A statement compiled for one dialect, and the processors its columns need."""

    __slots__ = ("compiled", "processors", "statement")

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        self.statement = statement
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        self.compiled = compiled
        # Known after the first execution: a type's processor may depend on the type
        # the server reports for the column (numeric or float, for one).
        self.processors: list[tuple[int, Processor]] | None = None

    def learn(self, dialect: Dialect, server_types: Sequence[int]) -> list[tuple[int, Processor]]:
        processors: list[tuple[int, Processor]] = []
        for index, column in enumerate(self.statement.selected_columns):
            impl = column.type.dialect_impl(dialect)
            process = impl.result_processor(dialect, server_types[index])
            if process is not None:
                processors.append((index, process))
        self.processors = processors
        return processors


_compiled: IdentityLRU[tuple[Select[Any], Dialect], _Compiled] = IdentityLRU(COMPILED_CACHE_SIZE)


def _compile(statement: Select[Any], dialect: Dialect) -> _Compiled:
    known = _compiled.get((statement, dialect))
    if known is None:
        known = _Compiled(statement, dialect)
        _compiled.put((statement, dialect), known)
    return known


async def fetch_direct(
    connection: AsyncConnection, statement: Select[Any], params: Mapping[str, Any]
) -> Sequence[Sequence[Any]]:
    dialect = connection.dialect
    known = _compile(statement, dialect)
    state = known.compiled.construct_expanded_state(dict(params))
    convert, values = state.processors, state.parameters
    arguments = [
        convert[name](values[name]) if name in convert else values[name]
        for name in state.positiontup or ()
    ]
    driver: Any = (await connection.get_raw_connection()).driver_connection
    processors = known.processors
    if processors is None:
        prepared = await driver.prepare(state.statement)  # kept in asyncpg's statement cache
        server_types = [attribute.type.oid for attribute in prepared.get_attributes()]
        processors = known.learn(dialect, server_types)
    records: Sequence[Sequence[Any]] = await driver.fetch(state.statement, *arguments)
    if not processors:
        return records  # asyncpg's records: tuples by position already
    rows = [list(record) for record in records]
    for row in rows:
        for index, process in processors:
            row[index] = process(row[index])
    return rows
