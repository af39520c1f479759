"""Job parameters of the collection jobs, validated once and stored as JSON on the job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from kra_graphql.errors import BadUserInput
from kra_graphql.races.dates import format_race_date, parse_race_date, seoul_today
from kra_graphql.races.models import Meet, check_meet

MAX_RACE_NUMBER = 20
# Race cards are published a few days ahead; nothing exists further out.
CALENDAR_HORIZON = timedelta(days=14)
MAX_RACE_IDS = 500


def check_day(value: str, *, field: str) -> date:
    day = parse_race_date(value, field=field)
    if day > seoul_today() + CALENDAR_HORIZON:
        raise BadUserInput("is beyond the published race calendar", field=field)
    if day.year < 1990:
        raise BadUserInput("is before the KRA records begin", field=field)
    return day


def check_day_range(
    date_from: str, date_to: str, *, most_days: int, what: str, prefix: str
) -> tuple[date, date]:
    """A range of race days at most `most_days` long; `what` names it ("a backfill")."""
    start = check_day(date_from, field=f"{prefix}.dateFrom")
    end = check_day(date_to, field=f"{prefix}.dateTo")
    if start > end:
        raise BadUserInput("dateFrom is after dateTo", field=f"{prefix}.dateFrom")
    if (end - start).days + 1 > most_days:
        raise BadUserInput(f"{what} covers at most {most_days} days", field=f"{prefix}.dateTo")
    return start, end


ALL_MEETS = tuple(meet.value for meet in Meet)


def check_meets(meets: list[int] | None, *, field: str) -> tuple[int, ...]:
    """Meets to cover, sorted; every meet when left out."""
    chosen = ALL_MEETS if meets is None else tuple(meets)
    if not chosen:
        raise BadUserInput("give at least one meet, or leave it out for all", field=field)
    if len(set(chosen)) != len(chosen):
        raise BadUserInput("meets must not repeat", field=field)
    for meet in chosen:
        check_meet(meet, field=field)
    return tuple(sorted(chosen))


def check_race_numbers(values: list[int] | None, *, field: str) -> list[int] | None:
    if values is None:
        return None
    if not values:
        raise BadUserInput("give at least one race number, or leave it out for all", field=field)
    if any(not 1 <= number <= MAX_RACE_NUMBER for number in values):
        raise BadUserInput(f"race numbers run from 1 to {MAX_RACE_NUMBER}", field=field)
    if len(set(values)) != len(values):
        raise BadUserInput("race numbers must not repeat", field=field)
    return sorted(values)


@dataclass(frozen=True, slots=True)
class CollectParams:
    race_date: date
    meet: int
    race_numbers: list[int] | None = None
    enrich: bool = True
    with_results: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "date": format_race_date(self.race_date),
            "meet": self.meet,
            "raceNumbers": self.race_numbers,
            "enrich": self.enrich,
            "withResults": self.with_results,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CollectParams:
        return cls(
            race_date=parse_race_date(data["date"], field="date"),
            meet=int(data["meet"]),
            race_numbers=data.get("raceNumbers"),
            enrich=bool(data.get("enrich", True)),
            with_results=bool(data.get("withResults", True)),
        )


@dataclass(frozen=True, slots=True)
class EnrichParams:
    race_ids: list[str]
    kinds: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"raceIds": self.race_ids, "kinds": self.kinds}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EnrichParams:
        return cls(race_ids=list(data["raceIds"]), kinds=list(data.get("kinds") or ENTITY_KINDS))


ENTITY_KINDS = ("HORSE", "JOCKEY", "TRAINER")


@dataclass(frozen=True, slots=True)
class ResultsParams:
    race_date: date
    meet: int
    race_number: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "date": format_race_date(self.race_date),
            "meet": self.meet,
            "raceNumber": self.race_number,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResultsParams:
        return cls(
            race_date=parse_race_date(data["date"], field="date"),
            meet=int(data["meet"]),
            race_number=data.get("raceNumber"),
        )


@dataclass(frozen=True, slots=True)
class ImportParams:
    """Files or folders of saved RaceDetailResult envelopes, as the importing process sees them."""

    paths: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"paths": self.paths}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImportParams:
        return cls(paths=list(data["paths"]))
