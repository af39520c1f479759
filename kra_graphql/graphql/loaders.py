"""Per-request DataLoaders: one query per relation, whatever the page size or nesting."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
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
        self.race: DataLoader[str, Race | None] = _keyed(read, queries.races_by_id, lambda: None)
        self.history = {
            kind: _keyed(read, _histories(kind), _missing_page) for kind in people.KINDS
        }
        self.predictions_by_race: DataLoader[str, list[Prediction]] = _keyed(
            read, prediction_queries.predictions_by_race, list
        )
        self.prompt: DataLoader[str, Prompt | None] = _keyed(
            read, prediction_queries.prompts_by_id, lambda: None
        )
        self.evaluation: DataLoader[int, Evaluation | None] = _keyed(
            read, prediction_queries.evaluations_by_id, lambda: None
        )
        # GraphQL objects built from loaded rows, by converter and key, shared by resolvers.
        self.converted: dict[tuple[Callable[[Any], Any], str], Any] = {}


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
