"""GraphQL inputs and their translation into domain queries, with typed validation errors."""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

import strawberry

from kra_graphql.collection.params import (
    ENTITY_KINDS,
    MAX_RACE_IDS,
    CollectParams,
    EnrichParams,
    ResultsParams,
    check_day,
    check_race_numbers,
)
from kra_graphql.errors import BadUserInput
from kra_graphql.jobs.models import JobKind, JobStatus
from kra_graphql.jobs.queries import JobQuery
from kra_graphql.races.dates import parse_race_date
from kra_graphql.races.models import check_meet
from kra_graphql.races.queries import RaceQuery

T = TypeVar("T")


@strawberry.input(description="All given conditions must hold.")
class RaceFilter:
    date: str | None = strawberry.field(default=None, description="One day, YYYYMMDD or ISO.")
    date_from: str | None = strawberry.field(default=None, description="First day, inclusive.")
    date_to: str | None = strawberry.field(default=None, description="Last day, inclusive.")
    meet: int | None = None

    def to_query(self) -> RaceQuery:
        if self.date is not None and (self.date_from is not None or self.date_to is not None):
            raise BadUserInput("use either date or dateFrom/dateTo", field="filter.date")
        day = parse_race_date(self.date, field="filter.date") if self.date else None
        start = parse_race_date(self.date_from, field="filter.dateFrom") if self.date_from else None
        end = parse_race_date(self.date_to, field="filter.dateTo") if self.date_to else None
        if start and end and start > end:
            raise BadUserInput("dateFrom is after dateTo", field="filter.dateFrom")
        meet = check_meet(self.meet, field="filter.meet") if self.meet is not None else None
        return RaceQuery(date_from=day or start, date_to=day or end, meet=meet)


MAX_FILTER_VALUES = 20


def _bounded(values: list[T] | None, *, field: str, limit: int = MAX_FILTER_VALUES) -> list[T]:
    if values is not None and len(values) > limit:
        raise BadUserInput(f"at most {limit} values", field=field)
    return list(values or [])


@strawberry.input(description="All given conditions must hold; lists match any of their values.")
class JobFilter:
    status: list[JobStatus] | None = None
    kind: list[JobKind] | None = None
    date_from: str | None = strawberry.field(default=None, description="Created on or after.")
    date_to: str | None = strawberry.field(default=None, description="Created on or before.")
    requested_by: str | None = None

    def to_query(self, field: str = "filter") -> JobQuery:
        start = (
            parse_race_date(self.date_from, field=f"{field}.dateFrom") if self.date_from else None
        )
        end = parse_race_date(self.date_to, field=f"{field}.dateTo") if self.date_to else None
        if start and end and start > end:
            raise BadUserInput("dateFrom is after dateTo", field=f"{field}.dateFrom")
        return JobQuery(
            statuses=[s.value for s in _bounded(self.status, field=f"{field}.status")],
            kinds=[k.value for k in _bounded(self.kind, field=f"{field}.kind")],
            created_from=start,
            created_to=end,
            requested_by=self.requested_by,
        )


@strawberry.input
class CollectRacesInput:
    date: str = strawberry.field(description="Race day, YYYYMMDD or ISO.")
    meet: int
    race_numbers: list[int] | None = strawberry.field(
        default=None, description="Only these races; all races of the day when omitted."
    )
    enrich: bool = strawberry.field(default=True, description="Fetch horse/jockey/trainer details.")
    with_results: bool = strawberry.field(default=True, description="Store results once out.")

    def to_params(self) -> CollectParams:
        return CollectParams(
            race_date=check_day(self.date, field="input.date"),
            meet=check_meet(self.meet, field="input.meet"),
            race_numbers=check_race_numbers(self.race_numbers, field="input.raceNumbers"),
            enrich=self.enrich,
            with_results=self.with_results,
        )


@strawberry.enum
class EntityKind(Enum):
    HORSE = "HORSE"
    JOCKEY = "JOCKEY"
    TRAINER = "TRAINER"


@strawberry.input
class EnrichRacesInput:
    race_ids: list[strawberry.ID]
    kinds: list[EntityKind] | None = strawberry.field(default=None, description="All when omitted.")

    def to_params(self) -> EnrichParams:
        ids = _bounded(self.race_ids, field="input.raceIds", limit=MAX_RACE_IDS)
        if not ids:
            raise BadUserInput("give at least one race id", field="input.raceIds")
        if len(set(ids)) != len(ids):
            raise BadUserInput("race ids must not repeat", field="input.raceIds")
        kinds = [kind.value for kind in self.kinds] if self.kinds else list(ENTITY_KINDS)
        return EnrichParams(race_ids=[str(i) for i in ids], kinds=sorted(set(kinds)))


@strawberry.input
class CollectResultsInput:
    date: str
    meet: int
    race_number: int | None = strawberry.field(default=None, description="All when omitted.")

    def to_params(self) -> ResultsParams:
        numbers = check_race_numbers(
            None if self.race_number is None else [self.race_number], field="input.raceNumber"
        )
        return ResultsParams(
            race_date=check_day(self.date, field="input.date"),
            meet=check_meet(self.meet, field="input.meet"),
            race_number=numbers[0] if numbers else None,
        )
