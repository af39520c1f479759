"""GraphQL object types: plain objects built from domain rows, scalars without resolvers."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from kra_graphql.graphql import ids
from kra_graphql.graphql.context import Context
from kra_graphql.races import models
from kra_graphql.races.dates import format_race_date

Info = strawberry.Info[Context, None]


@strawberry.interface(description="An object with an id unique across all types.")
class Node:
    id: strawberry.ID


@strawberry.enum
class ServiceStatus(Enum):
    UP = "UP"
    DOWN = "DOWN"

    @classmethod
    def of(cls, up: bool) -> ServiceStatus:
        return cls.UP if up else cls.DOWN


@strawberry.type
class Health:
    database: ServiceStatus
    redis: ServiceStatus
    worker: ServiceStatus
    queued_jobs: int | None = strawberry.field(description="Null while the database is down.")
    running_jobs: int | None = strawberry.field(description="Null while the database is down.")
    active_subscriptions: int = strawberry.field(
        description="Live subscriptions on the API process that answered."
    )


@strawberry.type
class Horse(Node):
    horse_no: str
    name: str
    sex: str | None
    home_meet: int | None
    sire_name: str | None
    dam_name: str | None
    rating: int | None
    starts_total: int | None
    wins_total: int | None
    seconds_total: int | None
    thirds_total: int | None

    @classmethod
    def from_model(cls, row: models.Horse) -> Horse:
        return cls(
            id=strawberry.ID(ids.horse_id(row.horse_no)),
            horse_no=row.horse_no,
            name=row.name,
            sex=row.sex,
            home_meet=row.home_meet,
            sire_name=row.sire_name,
            dam_name=row.dam_name,
            rating=row.rating,
            starts_total=row.starts_total,
            wins_total=row.wins_total,
            seconds_total=row.seconds_total,
            thirds_total=row.thirds_total,
        )


@strawberry.type
class Jockey(Node):
    jockey_no: str
    name: str
    starts_total: int | None
    wins_total: int | None

    @classmethod
    def from_model(cls, row: models.Jockey) -> Jockey:
        return cls(
            id=strawberry.ID(ids.jockey_id(row.jockey_no)),
            jockey_no=row.jockey_no,
            name=row.name,
            starts_total=row.starts_total,
            wins_total=row.wins_total,
        )


@strawberry.type
class Trainer(Node):
    trainer_no: str
    name: str
    starts_total: int | None
    wins_total: int | None

    @classmethod
    def from_model(cls, row: models.Trainer) -> Trainer:
        return cls(
            id=strawberry.ID(ids.trainer_id(row.trainer_no)),
            trainer_no=row.trainer_no,
            name=row.name,
            starts_total=row.starts_total,
            wins_total=row.wins_total,
        )


@strawberry.type
class Entry(Node):
    gate_number: int
    horse_name: str = strawberry.field(description="As printed on the race card.")
    age: int | None
    sex: str | None
    carried_weight: float | None
    body_weight: int | None
    body_weight_change: int | None
    rating: int | None
    win_odds: float | None
    place_odds: float | None
    scratched: bool
    finish_position: int | None = strawberry.field(description="Null until the result is known.")
    finish_time: float | None = strawberry.field(description="Seconds; null until the result.")
    margin: str | None
    horse_no: strawberry.Private[str]
    jockey_no: strawberry.Private[str | None]
    trainer_no: strawberry.Private[str | None]

    @strawberry.field
    async def horse(self, info: Info) -> Horse:
        row = await info.context.loaders.horse.load(self.horse_no)
        if row is None:  # the foreign key makes this unreachable short of corruption
            raise LookupError(f"horse {self.horse_no} of entry {self.id} is missing")
        return Horse.from_model(row)

    @strawberry.field
    async def jockey(self, info: Info) -> Jockey | None:
        if self.jockey_no is None:
            return None
        row = await info.context.loaders.jockey.load(self.jockey_no)
        return Jockey.from_model(row) if row else None

    @strawberry.field
    async def trainer(self, info: Info) -> Trainer | None:
        if self.trainer_no is None:
            return None
        row = await info.context.loaders.trainer.load(self.trainer_no)
        return Trainer.from_model(row) if row else None

    @classmethod
    def from_model(cls, row: models.Entry) -> Entry:
        return cls(
            id=strawberry.ID(ids.entry_id(row.race_id, row.gate_number)),
            gate_number=row.gate_number,
            horse_name=row.horse_name,
            age=row.age,
            sex=row.sex,
            carried_weight=row.carried_weight,
            body_weight=row.body_weight,
            body_weight_change=row.body_weight_change,
            rating=row.rating,
            win_odds=row.win_odds,
            place_odds=row.place_odds,
            scratched=row.scratched,
            finish_position=row.finish_position,
            finish_time=row.finish_time,
            margin=row.margin,
            horse_no=row.horse_no,
            jockey_no=row.jockey_no,
            trainer_no=row.trainer_no,
        )


@strawberry.type
class Race(Node):
    date: str = strawberry.field(description="Race day, YYYYMMDD (Asia/Seoul).")
    meet: int = strawberry.field(description="1 Seoul, 2 Jeju, 3 Busan-Gyeongnam.")
    race_number: int
    name: str | None
    distance: int | None = strawberry.field(description="Metres.")
    race_class: str | None
    age_condition: str | None
    prize_condition: str | None
    track_condition: str | None
    weather: str | None
    collection_status: str
    enrichment_status: str
    result_status: str
    quality_score: float | None
    quality_warnings: list[str]
    created_at: datetime
    updated_at: datetime

    @strawberry.field(description="Runners ordered by gate number.")
    async def entries(self, info: Info) -> list[Entry]:
        rows = await info.context.loaders.entries_by_race.load(str(self.id))
        return [Entry.from_model(row) for row in rows]

    @classmethod
    def from_model(cls, row: models.Race) -> Race:
        return cls(
            id=strawberry.ID(row.id),
            date=format_race_date(row.race_date),
            meet=row.meet,
            race_number=row.race_number,
            name=row.name,
            distance=row.distance,
            race_class=row.race_class,
            age_condition=row.age_condition,
            prize_condition=row.prize_condition,
            track_condition=row.track_condition,
            weather=row.weather,
            collection_status=row.collection_status,
            enrichment_status=row.enrichment_status,
            result_status=row.result_status,
            quality_score=row.quality_score,
            quality_warnings=list(row.quality_warnings),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="How far the races of one day at one meet have been collected.")
class CollectionStatus:
    date: str
    meet: int
    total: int = strawberry.field(description="Races known for the day.")
    collected: int
    enriched: int
    resulted: int = strawberry.field(description="Races with a published result (or none).")
    status: str = strawberry.field(
        description="NOT_COLLECTED, COLLECTING, COLLECTED, ENRICHED or RESULTED."
    )
