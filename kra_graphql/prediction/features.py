"""Form features of the runners of one race, from earlier races in our own database.

Only races dated strictly before the race in question count, and only their recorded
finishing positions: career figures from the detail APIs are excluded, because they were
fetched after the race and so include it and later ones.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    func,
    literal,
    not_,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped
from sqlmodel import col

from kra_graphql.kra.records import NOT_STARTED_CODES
from kra_graphql.races.models import Entry, Race, ResultStatus

RECENT_STARTS = 5
# Jockeys and trainers are judged on their recent record: stables and riders change.
PEOPLE_WINDOW_DAYS = 365
# Earlier races within this many metres of the race's distance count as the same trip.
DISTANCE_BAND_M = 200
# The going as the KRA states it: a word and the track's moisture, "다습 (12%)". From this
# moisture on a race is run on a wet track (다습, 포화, 불량), below it on a dry one.
WET_FROM_PCT = 10
MOISTURE = re.compile(r"\((\d+)%\)")


@dataclass(frozen=True, slots=True)
class Record:
    """Starts, wins and top-3 finishes in earlier resulted races."""

    starts: int = 0
    wins: int = 0
    top3: int = 0

    @property
    def win_rate(self) -> float:
        return self.wins / self.starts if self.starts else 0.0

    @property
    def top3_rate(self) -> float:
        return self.top3 / self.starts if self.starts else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "starts": self.starts,
            "wins": self.wins,
            "top3": self.top3,
            "win_rate": round(self.win_rate, 4),
            "top3_rate": round(self.top3_rate, 4),
        }


@dataclass(frozen=True, slots=True)
class FormFeatures:
    horse: Record = Record()
    jockey: Record = Record()  # over the trailing PEOPLE_WINDOW_DAYS
    trainer: Record = Record()  # over the trailing PEOPLE_WINDOW_DAYS
    # The horse's starts at about this race's distance (within DISTANCE_BAND_M).
    at_distance: Record = Record()
    # The horse's starts on the same going (wet or dry) as this race; none when this
    # race's going is not known yet.
    on_going: Record = Record()
    # Finishing positions of the horse's last starts, most recent first; None for a start
    # without a position (a non-finishing code).
    recent_finishes: tuple[int | None, ...] = ()
    days_since_last_run: int | None = None
    last_carried_weight: float | None = None

    @property
    def recent_form(self) -> float:
        """Mean of 1/position over the recent starts (0 for no position); 0 without starts."""
        if not self.recent_finishes:
            return 0.0
        points = [1.0 / position if position else 0.0 for position in self.recent_finishes]
        return sum(points) / len(points)

    def as_json(self) -> dict[str, Any]:
        return {
            "horse": self.horse.as_json(),
            "jockey": self.jockey.as_json(),
            "trainer": self.trainer.as_json(),
            "at_distance": self.at_distance.as_json(),
            "on_going": self.on_going.as_json(),
            "recent_finishes": list(self.recent_finishes),
            "recent_form": round(self.recent_form, 4),
            "days_since_last_run": self.days_since_last_run,
            "last_carried_weight": self.last_carried_weight,
        }


def _counted_start() -> ColumnElement[bool]:
    """A start with an outcome: a resulted race, the runner started, and it has a position
    or a non-finishing code other than "did not start"."""
    return and_(
        col(Race.result_status) == ResultStatus.RESULTED,
        not_(col(Entry.scratched)),
        or_(col(Entry.finish_position).is_not(None), col(Entry.finish_code).is_not(None)),
        func.coalesce(col(Entry.finish_code), 0).not_in(sorted(NOT_STARTED_CODES)),
    )


def _records_of(role: str, key: Mapped[str | None]) -> Select[*tuple[Any, ...]]:
    position = col(Entry.finish_position)
    return (
        select(
            literal(role).label("role"),
            key.label("number"),
            func.count().label("starts"),
            func.sum(case((position == 1, 1), else_=0)).label("wins"),
            func.sum(case((position <= 3, 1), else_=0)).label("top3"),
        )
        .join(Race, col(Race.id) == col(Entry.race_id))
        .where(
            key.in_(bindparam(f"{role}s", expanding=True)),
            col(Race.race_date) < bindparam("before"),
            col(Race.race_date) >= bindparam("since"),
            _counted_start(),
        )
        .group_by(key)
    )


# Built once: a card reads them for every race, and building a statement costs about as
# much Python as running it.
PEOPLE_RECORDS = union_all(
    _records_of("jockey", col(Entry.jockey_no)), _records_of("trainer", col(Entry.trainer_no))
)
HORSE_HISTORIES = (
    select(
        col(Entry.horse_no),
        col(Race.race_date),
        col(Entry.finish_position),
        col(Race.distance),
        col(Entry.carried_weight),
        col(Race.track_condition),
    )
    .join(Race, col(Race.id) == col(Entry.race_id))
    .where(
        col(Entry.horse_no).in_(bindparam("horses", expanding=True)),
        col(Race.race_date) < bindparam("before"),
        _counted_start(),
    )
    .order_by(col(Entry.horse_no), col(Race.race_date).desc(), col(Race.race_number).desc())
)


async def _people_records(
    session: AsyncSession, jockeys: Collection[str], trainers: Collection[str], before: date
) -> tuple[dict[str, Record], dict[str, Record]]:
    """The jockeys' and the trainers' records over the trailing window, in one query."""
    found: dict[str, dict[str, Record]] = {"jockey": {}, "trainer": {}}
    rows = await session.execute(
        PEOPLE_RECORDS,
        {
            "jockeys": sorted(jockeys),
            "trainers": sorted(trainers),
            "before": before,
            "since": before - timedelta(days=PEOPLE_WINDOW_DAYS),
        },
    )
    for role, number, starts, wins, top3 in rows:
        if number is not None:
            found[role][number] = Record(int(starts), int(wins or 0), int(top3 or 0))
    return found["jockey"], found["trainer"]


@dataclass(frozen=True, slots=True)
class Start:
    race_date: date
    position: int | None
    distance: int | None
    carried_weight: float | None
    wet: bool | None


def is_wet(track_condition: str | None) -> bool | None:
    """Wet or dry from the stated moisture; None when not stated (pre-race cards give
    " (0%)" without a word)."""
    if not track_condition or not track_condition.split("(")[0].strip():
        return None
    found = MOISTURE.search(track_condition)
    return int(found.group(1)) >= WET_FROM_PCT if found else None


async def _horse_histories(
    session: AsyncSession, horse_numbers: Collection[str], before: date
) -> dict[str, list[Start]]:
    """Each horse's counted starts before the date, most recent first."""
    rows = await session.execute(
        HORSE_HISTORIES, {"horses": sorted(horse_numbers), "before": before}
    )
    histories: dict[str, list[Start]] = defaultdict(list)
    for horse_no, race_date, position, distance, carried, going in rows:
        histories[horse_no].append(Start(race_date, position, distance, carried, is_wet(going)))
    return histories


def _record(starts: Collection[Start]) -> Record:
    positions = [start.position for start in starts]
    return Record(
        starts=len(positions),
        wins=sum(1 for x in positions if x == 1),
        top3=sum(1 for x in positions if x is not None and x <= 3),
    )


@dataclass(frozen=True, slots=True)
class Participant:
    horse_no: str
    jockey_no: str | None
    trainer_no: str | None


async def form_features(
    session: AsyncSession,
    participants: Collection[Participant],
    race_date: date,
    *,
    distance: int | None = None,
    going: str | None = None,
) -> dict[str, FormFeatures]:
    """Features per horse number, in two queries whatever the field size."""
    if session.get_bind().dialect.name == "postgresql":
        # The best plan for the history queries depends on their dates and people: once a
        # prepared statement falls back to PostgreSQL's generic plan, they take ~10 ms
        # instead of ~1. For this transaction only.
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    horses = {p.horse_no for p in participants}
    jockeys = {p.jockey_no for p in participants if p.jockey_no is not None}
    trainers = {p.trainer_no for p in participants if p.trainer_no is not None}
    histories = await _horse_histories(session, horses, race_date)
    jockey_records, trainer_records = await _people_records(session, jockeys, trainers, race_date)
    wet = is_wet(going)
    features: dict[str, FormFeatures] = {}
    for p in participants:
        history = histories.get(p.horse_no, [])
        same_trip = [
            start
            for start in history
            if distance is not None
            and start.distance is not None
            and abs(start.distance - distance) <= DISTANCE_BAND_M
        ]
        features[p.horse_no] = FormFeatures(
            horse=_record(history),
            jockey=jockey_records.get(p.jockey_no or "", Record()),
            trainer=trainer_records.get(p.trainer_no or "", Record()),
            at_distance=_record(same_trip),
            on_going=_record([s for s in history if wet is not None and s.wet == wet]),
            recent_finishes=tuple(start.position for start in history[:RECENT_STARTS]),
            days_since_last_run=(race_date - history[0].race_date).days if history else None,
            last_carried_weight=history[0].carried_weight if history else None,
        )
    return features
