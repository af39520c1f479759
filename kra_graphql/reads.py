"""Reads that hand rows to the API as plain tuples.

Statements built once and kept (`reused`) go straight to asyncpg when the fast path's
`reads` piece is on and the session is an API read (autocommit, no transaction to share):
see kra_graphql/graphql/fastpath/reads.py. A driver error there sends the statement the
ordinary way, which lets SQLAlchemy see and handle a broken connection. Anything else
(SQLite, a session in a transaction, a statement built per request, whose compiling
would cost more than the direct path saves) goes the ordinary way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from kra_graphql.graphql.fastpath.reads import fetch_direct
from kra_graphql.logging import get_logger

log = get_logger(__name__)

REUSED = "kra_reused"
# An execution option of the API's autocommit engine: whether reused statements go direct.
DIRECT_READS = "kra_direct_reads"
# What the driver raises for a statement it could not run, or a connection it lost.
_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


def reused(statement: Select[Any]) -> Select[Any]:
    """Mark a statement that is built once and run many times."""
    return statement.execution_options(**{REUSED: True})


def _direct(connection: AsyncConnection) -> bool:
    sync = connection.sync_connection
    options = sync.get_execution_options() if sync is not None else {}
    return (
        connection.dialect.driver == "asyncpg"
        and options.get("isolation_level") == "AUTOCOMMIT"
        and options.get(DIRECT_READS) is True
    )


async def fetch_all(
    session: AsyncSession, statement: Select[Any], params: Mapping[str, Any] | None = None
) -> Sequence[Sequence[Any]]:
    """Every row of a select, each indexable by column position."""
    connection = await session.connection()
    if statement.get_execution_options().get(REUSED) and _direct(connection):
        try:
            return await fetch_direct(connection, statement, params or {})
        except _DRIVER_ERRORS as error:  # the ordinary path below reports it, or recovers
            log.info("reads.direct_failed", error=type(error).__name__)
    rows: Sequence[Sequence[Any]] = (await connection.execute(statement, params)).all()
    return rows
