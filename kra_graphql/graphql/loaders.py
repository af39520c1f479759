"""Per-request DataLoaders: one query per relation, whatever the page size or nesting."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from kra_graphql.races import queries
from kra_graphql.races.models import Entry, Horse, Jockey, Trainer

K = TypeVar("K")
V = TypeVar("V")


def _keyed(
    session: Callable[[], Awaitable[AsyncSession]],
    fetch: Callable[[AsyncSession, Sequence[K]], Awaitable[Mapping[K, V]]],
    missing: Callable[[], V],
) -> DataLoader[K, V]:
    async def load(keys: list[K]) -> list[V]:
        found = await fetch(await session(), keys)
        return [found.get(key, missing()) for key in keys]

    return DataLoader(load_fn=load)


class Loaders:
    def __init__(self, session: Callable[[], Awaitable[AsyncSession]]) -> None:
        self.entries_by_race: DataLoader[str, list[Entry]] = _keyed(
            session, queries.entries_by_race, list
        )
        self.horse: DataLoader[str, Horse | None] = _keyed(
            session, queries.horses_by_no, lambda: None
        )
        self.jockey: DataLoader[str, Jockey | None] = _keyed(
            session, queries.jockeys_by_no, lambda: None
        )
        self.trainer: DataLoader[str, Trainer | None] = _keyed(
            session, queries.trainers_by_no, lambda: None
        )
