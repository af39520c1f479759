"""Keyset pagination shared by every list: opaque cursors, bounded pages."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from kra_graphql.errors import BadUserInput

MAX_PAGE_SIZE = 100

T = TypeVar("T")


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
