"""Per-request DataLoaders: one query per relation, whatever the page size or nesting."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import cached_property
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from kra_graphql.jobs import queries as job_queries
from kra_graphql.jobs.models import Job, JobLog
from kra_graphql.pagination import Page
from kra_graphql.prediction import queries as prediction_queries
from kra_graphql.prediction.models import Evaluation, Prediction, Prompt
from kra_graphql.races import people, queries
from kra_graphql.races.models import Entry, Horse, Jockey, Race, Trainer
from kra_graphql.races.queries import EntryWithPeople

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
        return [found[key] if key in found else missing() for key in keys]

    return DataLoader(load_fn=load)


def _none() -> None:
    return None


class Loaders:
    """Each loader is built on first use: most requests need two or three of them."""

    def __init__(self, read: Read) -> None:
        self._read = read
        self._entries: dict[
            tuple[frozenset[queries.PersonKind], frozenset[str] | None],
            DataLoader[str, list[EntryWithPeople]],
        ] = {}
        # GraphQL objects built from loaded rows, shared by resolvers: by converter, key
        # and the columns read.
        self.converted: dict[tuple[Callable[[Any], Any], str, frozenset[str] | None], Any] = {}

    def entries_by_race(
        self,
        kinds: frozenset[queries.PersonKind] = frozenset(),
        needed: frozenset[str] | None = None,
    ) -> DataLoader[str, list[EntryWithPeople]]:
        """Entries by race id, with the people of the kinds given loaded alongside; with
        `needed`, only those columns (`table.column`) are read, the others are None."""
        loader = self._entries.get((kinds, needed))
        if loader is None:

            async def fetch(
                session: AsyncSession, race_ids: Sequence[str]
            ) -> Mapping[str, list[EntryWithPeople]]:
                return await queries.entries_by_race(session, race_ids, kinds, needed)

            loader = self._entries[(kinds, needed)] = _keyed(self._read, fetch, list)
        return loader

    @cached_property
    def horse(self) -> DataLoader[str, Horse | None]:
        return _keyed(self._read, queries.horses_by_no, _none)

    @cached_property
    def jockey(self) -> DataLoader[str, Jockey | None]:
        return _keyed(self._read, queries.jockeys_by_no, _none)

    @cached_property
    def trainer(self) -> DataLoader[str, Trainer | None]:
        return _keyed(self._read, queries.trainers_by_no, _none)

    @cached_property
    def job(self) -> DataLoader[str, Job | None]:
        return _keyed(self._read, job_queries.jobs_by_id, _none)

    @cached_property
    def job_children(self) -> DataLoader[str, list[Job]]:
        return _keyed(self._read, job_queries.children_by_parent, list)

    @cached_property
    def job_logs(self) -> DataLoader[tuple[str, int], list[JobLog]]:
        return _keyed(self._read, job_queries.last_logs, list)

    @cached_property
    def race(self) -> DataLoader[str, Race | None]:
        return _keyed(self._read, queries.races_by_id, _none)

    @cached_property
    def history(self) -> dict[people.PersonKind, DataLoader[people.HistoryKey, Page[Entry]]]:
        return {kind: _keyed(self._read, _histories(kind), _missing_page) for kind in people.KINDS}

    @cached_property
    def predictions_by_race(self) -> DataLoader[str, list[Prediction]]:
        return _keyed(self._read, prediction_queries.predictions_by_race, list)

    @cached_property
    def prompt(self) -> DataLoader[str, Prompt | None]:
        return _keyed(self._read, prediction_queries.prompts_by_id, _none)

    @cached_property
    def evaluation(self) -> DataLoader[int, Evaluation | None]:
        return _keyed(self._read, prediction_queries.evaluations_by_id, _none)


def _histories(
    kind: people.PersonKind,
) -> Callable[
    [AsyncSession, Sequence[people.HistoryKey]], Awaitable[Mapping[people.HistoryKey, Page[Entry]]]
]:
    async def fetch(
        session: AsyncSession, keys: Sequence[people.HistoryKey]
    ) -> Mapping[people.HistoryKey, Page[Entry]]:
        return await people.histories(session, kind, keys)

    return fetch


def _missing_page() -> Page[Entry]:
    raise LookupError("every history key gets a page")
