"""Relay-style connections: edges with cursors, pageInfo, and a lazily counted total."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from kra_graphql.pagination import Page

T = TypeVar("T")
M = TypeVar("M")


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    count_total: strawberry.Private[Callable[[AsyncSession], Awaitable[int]]]

    @strawberry.field(description="Items matching the filter across all pages.")
    async def total_count(self, info: strawberry.Info) -> int:
        total: int = await info.context.read(self.count_total)
        return total


def to_connection(page: Page[M], convert: Callable[[M], T]) -> Connection[T]:
    edges = [
        Edge(cursor=cursor, node=convert(item))
        for item, cursor in zip(page.items, page.cursors, strict=True)
    ]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        ),
        count_total=page.count_total,
    )
