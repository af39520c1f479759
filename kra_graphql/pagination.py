"""Keyset pagination shared by every list: opaque cursors, bounded pages."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from kra_graphql.errors import BadUserInput

MAX_PAGE_SIZE = 100

T = TypeVar("T")
M = TypeVar("M", bound=SQLModel)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    cursors: Sequence[str]
    has_next: bool
    has_previous: bool
    # Run only if the client asks for totalCount, on the request's session.
    count_total: Callable[[AsyncSession], Awaitable[int]]


def check_page_size(first: int, *, field: str = "first") -> int:
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise BadUserInput(f"must be between 1 and {MAX_PAGE_SIZE}", field=field)
    return first


def encode_cursor(*values: object) -> str:
    text = "|".join(str(value) for value in values)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, parts: int, field: str = "after") -> list[str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = base64.urlsafe_b64decode(padded.encode()).decode().split("|")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadUserInput("not a cursor returned by this API", field=field) from None
    if len(values) != parts:
        raise BadUserInput("not a cursor returned by this API", field=field)
    return values


@dataclass(frozen=True, slots=True)
class Key:
    """A column of a listing's order, and how a cursor's text becomes its value."""

    column: Any
    descending: bool = False
    # Raises ValueError for text that is not a value.
    parse: Callable[[str], object] = str


class Keyset:
    """A listing's order, its keys together unique: a cursor holds the keys of a row, and
    the page after it starts with the rows that come after those keys."""

    def __init__(self, *keys: Key) -> None:
        self.keys = keys

    def order_by(self) -> list[Any]:
        return [key.column.desc() if key.descending else key.column for key in self.keys]

    def after(self, values: Sequence[object]) -> ColumnElement[bool]:
        """Rows after these key values (bound parameters too) in the order."""
        terms = []
        for index, key in enumerate(self.keys):
            value = values[index]
            beyond = key.column < value if key.descending else key.column > value
            ties = [k.column == v for k, v in zip(self.keys[:index], values, strict=False)]
            terms.append(and_(*ties, beyond))
        return or_(*terms)

    def decode(self, cursor: str) -> list[object]:
        texts = decode_cursor(cursor, parts=len(self.keys))
        try:
            return [key.parse(text) for key, text in zip(self.keys, texts, strict=True)]
        except ValueError:
            raise BadUserInput("not a cursor returned by this API", field="after") from None

    def cursor(self, *values: object) -> str:
        return encode_cursor(*(v.isoformat() if isinstance(v, date) else v for v in values))

    def cursor_of(self, row: object) -> str:
        return self.cursor(*(getattr(row, key.column.key) for key in self.keys))


def page_of(
    rows: Sequence[T],
    *,
    first: int,
    after: str | None,
    cursor: Callable[[T], str],
    count_total: Callable[[AsyncSession], Awaitable[int]],
) -> Page[T]:
    """The page of `first` rows out of `first + 1` read: one more means a next page."""
    items = rows[:first]
    return Page(
        items=items,
        cursors=[cursor(row) for row in items],
        has_next=len(rows) > first,
        has_previous=after is not None,
        count_total=count_total,
    )


async def keyset_page(
    session: AsyncSession,
    model: type[M],
    keyset: Keyset,
    conditions: Sequence[ColumnElement[bool]],
    *,
    first: int,
    after: str | None,
    options: Sequence[Any] = (),
) -> Page[M]:
    """The rows of `model` matching the conditions, in the keyset's order, after the cursor."""
    paged = [*conditions, keyset.after(keyset.decode(after))] if after is not None else conditions
    statement = (
        select(model).options(*options).where(*paged).order_by(*keyset.order_by()).limit(first + 1)
    )
    rows = list((await session.scalars(statement)).all())

    async def count_total(session: AsyncSession) -> int:
        total = await session.scalar(select(func.count()).select_from(model).where(*conditions))
        return int(total or 0)

    return page_of(rows, first=first, after=after, cursor=keyset.cursor_of, count_total=count_total)
