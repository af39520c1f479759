"""Form features of the runners of one race, from earlier races in our own database.

Only races dated strictly before the race in question count, and only their recorded
finishing positions: career figures from the detail APIs are excluded, because they were
fetched after the race and so include it and later ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped
from sqlmodel import col

from kra_graphql.kra.records import NOT_STARTED_CODES
from kra_graphql.races.models import Entry, Race, ResultStatus

RECENT_STARTS = 5


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
    jockey: Record = Record()
    trainer: Record = Record()
    # Finishing positions of the horse's last starts, most recent first; None for a start
    # without a position (a non-finishing code).
    recent_finishes: tuple[int | None, ...] = ()
    days_since_last_run: int | None = None

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
            "recent_finishes": list(self.recent_finishes),
            "recent_form": round(self.recent_form, 4),
            "days_since_last_run": self.days_since_last_run,
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


async def _records_by(
    session: AsyncSession,
    key: Mapped[str | None],
    numbers: Collection[str],
    before: date,
) -> dict[str, Record]:
    if not numbers:
        return {}
    position = col(Entry.finish_position)
    rows = await session.execute(
        select(
            key,
            func.count(),
            func.sum(case((position == 1, 1), else_=0)),
            func.sum(case((position <= 3, 1), else_=0)),
        )
        .join(Race, col(Race.id) == col(Entry.race_id))
        .where(key.in_(list(numbers)), col(Race.race_date) < before, _counted_start())
        .group_by(key)
    )
    return {
        number: Record(starts=int(starts), wins=int(wins or 0), top3=int(top3 or 0))
        for number, starts, wins, top3 in rows
        if number is not None
    }


async def _horse_histories(
    session: AsyncSession, horse_numbers: Collection[str], before: date
) -> dict[str, list[tuple[date, int | None]]]:
    """Each horse's counted starts before the date, most recent first."""
    if not horse_numbers:
        return {}
    rows = await session.execute(
        select(col(Entry.horse_no), col(Race.race_date), col(Entry.finish_position))
        .join(Race, col(Race.id) == col(Entry.race_id))
        .where(
            col(Entry.horse_no).in_(list(horse_numbers)),
            col(Race.race_date) < before,
            _counted_start(),
        )
        .order_by(col(Entry.horse_no), col(Race.race_date).desc(), col(Race.race_number).desc())
    )
    histories: dict[str, list[tuple[date, int | None]]] = defaultdict(list)
    for horse_no, race_date, position in rows:
        histories[horse_no].append((race_date, position))
    return histories


@dataclass(frozen=True, slots=True)
class Participant:
    horse_no: str
    jockey_no: str | None
    trainer_no: str | None


async def form_features(
    session: AsyncSession, participants: Collection[Participant], race_date: date
) -> dict[str, FormFeatures]:
    """Features per horse number, in three queries whatever the field size."""
    horses = {p.horse_no for p in participants}
    jockeys = {p.jockey_no for p in participants if p.jockey_no is not None}
    trainers = {p.trainer_no for p in participants if p.trainer_no is not None}
    histories = await _horse_histories(session, horses, race_date)
    jockey_records = await _records_by(session, col(Entry.jockey_no), jockeys, race_date)
    trainer_records = await _records_by(session, col(Entry.trainer_no), trainers, race_date)
    features: dict[str, FormFeatures] = {}
    for p in participants:
        history = histories.get(p.horse_no, [])
        positions = [position for _, position in history]
        features[p.horse_no] = FormFeatures(
            horse=Record(
                starts=len(history),
                wins=sum(1 for x in positions if x == 1),
                top3=sum(1 for x in positions if x is not None and x <= 3),
            ),
            jockey=jockey_records.get(p.jockey_no or "", Record()),
            trainer=trainer_records.get(p.trainer_no or "", Record()),
            recent_finishes=tuple(positions[:RECENT_STARTS]),
            days_since_last_run=(race_date - history[0][0]).days if history else None,
        )
    return features
