"""GraphQL inputs and their translation into domain queries, with typed validation errors."""

from __future__ import annotations

import strawberry

from kra_graphql.errors import BadUserInput
from kra_graphql.races.dates import parse_race_date
from kra_graphql.races.models import check_meet
from kra_graphql.races.queries import RaceQuery


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
