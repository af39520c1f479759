"""Per-request DataLoaders: one query per relation, whatever the page size or nesting."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from kra_graphql.jobs import queries as job_queries
from kra_graphql.jobs.models import Job, JobLog
from kra_graphql.races import queries
from kra_graphql.races.models import Entry, Horse, Jockey, Trainer

K = TypeVar("K")
V = TypeVar("V")


Read = Callable[[Callable[[AsyncSession], Awaitable[Any]]], Awaitable[Any]]


def _keyed(
    read: Read,
    fetch: Callable[[AsyncSession, Sequence[K]], Awaitable[Mapping[K, V]]],
    missing: Callable[[], V],
) -> DataLoader[K, V]:
    async def load(keys: list[K]) -> list[V]:
        found: Mapping[K, V] = await read(lambda session: fetch(session, keys))
        return [found.get(key, missing()) for key in keys]

    return DataLoader(load_fn=load)


class Loaders:
    def __init__(self, read: Read) -> None:
        self.entries_by_race: DataLoader[str, list[Entry]] = _keyed(
            read, queries.entries_by_race, list
        )
        self.horse: DataLoader[str, Horse | None] = _keyed(read, queries.horses_by_no, lambda: None)
        self.jockey: DataLoader[str, Jockey | None] = _keyed(
            read, queries.jockeys_by_no, lambda: None
        )
        self.trainer: DataLoader[str, Trainer | None] = _keyed(
            read, queries.trainers_by_no, lambda: None
        )
        self.job: DataLoader[str, Job | None] = _keyed(read, job_queries.jobs_by_id, lambda: None)
        self.job_children: DataLoader[str, list[Job]] = _keyed(
            read, job_queries.children_by_parent, list
        )
        self.job_logs: DataLoader[tuple[str, int], list[JobLog]] = _keyed(
            read, job_queries.last_logs, list
        )
