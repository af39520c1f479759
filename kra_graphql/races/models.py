"""Races, their entries, and the horses, jockeys and trainers that run them."""

from __future__ import annotations

from datetime import date, datetime
from enum import IntEnum, StrEnum
from typing import Any

from sqlalchemy import BigInteger, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from kra_graphql.db import JSONType, UTCDateTime
from kra_graphql.errors import BadUserInput
from kra_graphql.timestamps import Timestamped


class Meet(IntEnum):
    SEOUL = 1
    JEJU = 2
    BUSAN_GYEONGNAM = 3


def check_meet(value: int, *, field: str) -> int:
    if value not in {meet.value for meet in Meet}:
        raise BadUserInput("meet must be 1 (Seoul), 2 (Jeju) or 3 (Busan-Gyeongnam)", field=field)
    return value


class CollectionStatus(StrEnum):
    PENDING = "PENDING"
    COLLECTED = "COLLECTED"
    FAILED = "FAILED"


class EnrichmentStatus(StrEnum):
    PENDING = "PENDING"
    ENRICHED = "ENRICHED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"


class ResultStatus(StrEnum):
    PENDING = "PENDING"
    RESULTED = "RESULTED"
    # The race was run but no finishing order was published (fog, abandoned).
    NO_RESULT = "NO_RESULT"
    FAILED = "FAILED"


def race_id(meet: int, race_date: date, race_number: int) -> str:
    return f"race_{meet}_{race_date:%Y%m%d}_{race_number}"


class Race(Timestamped, table=True):
    __tablename__ = "races"
    # The natural key's index also serves "races by date and meet".
    __table_args__ = (UniqueConstraint("race_date", "meet", "race_number"),)

    id: str = Field(primary_key=True, max_length=40)
    race_date: date = Field(nullable=False)
    meet: int = Field(nullable=False)
    race_number: int = Field(nullable=False)
    name: str | None = None
    distance: int | None = None
    race_class: str | None = None
    age_condition: str | None = None
    prize_condition: str | None = None
    track_condition: str | None = None
    weather: str | None = None
    collection_status: str = Field(default=CollectionStatus.PENDING, max_length=16)
    enrichment_status: str = Field(default=EnrichmentStatus.PENDING, max_length=16)
    result_status: str = Field(default=ResultStatus.PENDING, max_length=16)
    quality_score: float | None = None
    quality_warnings: list[str] = Field(default_factory=list, sa_type=JSONType, nullable=False)
    collected_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    enriched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resulted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    raw: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType, nullable=False)
    # Why the last collection of the race failed (status FAILED); None once collected.
    collection_error: str | None = Field(default=None, sa_type=Text)


class CareerCounts(SQLModel):
    """Career figures from the KRA detail APIs, shared by horses, jockeys and trainers."""

    starts_total: int | None = None
    wins_total: int | None = None
    seconds_total: int | None = None
    thirds_total: int | None = None
    starts_year: int | None = None
    wins_year: int | None = None
    seconds_year: int | None = None
    thirds_year: int | None = None


class Career(CareerCounts):
    # When the details were last asked for (also when the API had none).
    details_fetched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# The columns the detail APIs fill, and the ones a career shows.
CAREER_COUNTS: tuple[str, ...] = tuple(CareerCounts.model_fields)
CAREER_FIELDS: tuple[str, ...] = tuple(Career.model_fields)


# Bases in this order keep the columns in the order the migrations created them.
class WithCareer(Career, Timestamped):
    raw: dict[str, Any] | None = Field(default=None, sa_type=JSONType)


class Horse(WithCareer, table=True):
    __tablename__ = "horses"

    horse_no: str = Field(primary_key=True, max_length=16)
    name: str = Field(index=True)
    sex: str | None = None
    birth_date: date | None = None
    home_meet: int | None = None
    sire_no: str | None = None
    sire_name: str | None = None
    dam_no: str | None = None
    dam_name: str | None = None
    rating: int | None = None
    prize_total: int | None = Field(default=None, sa_type=BigInteger)
    last_price: int | None = Field(default=None, sa_type=BigInteger)


class Jockey(WithCareer, table=True):
    __tablename__ = "jockeys"

    jockey_no: str = Field(primary_key=True, max_length=16)
    name: str = Field(index=True)
    birth_date: date | None = None
    debut_date: date | None = None
    affiliation: str | None = None
    home_meet: int | None = None


class Trainer(WithCareer, table=True):
    __tablename__ = "trainers"

    trainer_no: str = Field(primary_key=True, max_length=16)
    name: str = Field(index=True)
    home_meet: int | None = None
    affiliation: str | None = None
    start_date: date | None = None
    win_rate_total: float | None = None
    place_rate_total: float | None = None


class Entry(Timestamped, table=True):
    """One runner in one race; (race, gate number) is its natural key."""

    __tablename__ = "entries"
    __table_args__ = (UniqueConstraint("race_id", "gate_number"),)

    id: int | None = Field(default=None, primary_key=True)
    race_id: str = Field(foreign_key="races.id", ondelete="CASCADE", nullable=False)
    gate_number: int = Field(nullable=False)
    horse_no: str = Field(foreign_key="horses.horse_no", index=True, nullable=False)
    horse_name: str
    jockey_no: str | None = Field(default=None, foreign_key="jockeys.jockey_no", index=True)
    trainer_no: str | None = Field(default=None, foreign_key="trainers.trainer_no", index=True)
    owner_no: str | None = None
    owner_name: str | None = None
    age: int | None = None
    sex: str | None = None
    horse_class: str | None = None
    carried_weight: float | None = None
    body_weight: int | None = None
    body_weight_change: int | None = None
    rating: int | None = None
    win_odds: float | None = None
    place_odds: float | None = None
    scratched: bool = Field(default=False, nullable=False)
    finish_position: int | None = None
    finish_code: int | None = None
    finish_time: float | None = None
    margin: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType, nullable=False)
