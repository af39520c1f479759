"""Read-side queries over races and their entries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer
from sqlmodel import col

from kra_graphql.errors import BadUserInput
from kra_graphql.pagination import Page, decode_cursor, encode_cursor
from kra_graphql.races.models import (
    CollectionStatus,
    EnrichmentStatus,
    Entry,
    Horse,
    Jockey,
    Race,
    ResultStatus,
    Trainer,
)


@dataclass(frozen=True, slots=True)
class RaceQuery:
    date_from: date | None = None
    date_to: date | None = None
    meet: int | None = None
    collection_status: str | None = None
    enrichment_status: str | None = None
    result_status: str | None = None
    distance_min: int | None = None
    distance_max: int | None = None
    race_class: str | None = None


def _filters(query: RaceQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.date_from is not None:
        conditions.append(col(Race.race_date) >= query.date_from)
    if query.date_to is not None:
        conditions.append(col(Race.race_date) <= query.date_to)
    if query.meet is not None:
        conditions.append(col(Race.meet) == query.meet)
    for column, value in (
        (Race.collection_status, query.collection_status),
        (Race.enrichment_status, query.enrichment_status),
        (Race.result_status, query.result_status),
        (Race.race_class, query.race_class),
    ):
        if value is not None:
            conditions.append(col(column) == value)
    if query.distance_min is not None:
        conditions.append(col(Race.distance) >= query.distance_min)
    if query.distance_max is not None:
        conditions.append(col(Race.distance) <= query.distance_max)
    return conditions


def without_raw(model: Any) -> Any:
    """Raw KRA payloads are for audit, never served: reads leave them in the database."""
    return defer(model.raw)


def _race_cursor(race: Race) -> str:
    return encode_cursor(race.race_date.isoformat(), race.meet, race.race_number)


def _after(cursor: str) -> ColumnElement[bool]:
    """Rows after the cursor in the order: date newest first, then meet, then number."""
    day_text, meet_text, number_text = decode_cursor(cursor, parts=3)
    try:
        day, meet, number = date.fromisoformat(day_text), int(meet_text), int(number_text)
    except ValueError:
        raise BadUserInput("not a cursor returned by this API", field="after") from None
    return or_(
        col(Race.race_date) < day,
        and_(
            col(Race.race_date) == day,
            or_(
                col(Race.meet) > meet,
                and_(col(Race.meet) == meet, col(Race.race_number) > number),
            ),
        ),
    )


async def list_races(
    session: AsyncSession, query: RaceQuery, *, first: int, after: str | None
) -> Page[Race]:
    conditions = _filters(query)
    page_conditions = [*conditions, _after(after)] if after else conditions
    statement = (
        select(Race)
        .options(without_raw(Race))
        .where(*page_conditions)
        .order_by(col(Race.race_date).desc(), col(Race.meet), col(Race.race_number))
        .limit(first + 1)
    )
    rows = list((await session.scalars(statement)).all())

    async def count_total(session: AsyncSession) -> int:
        total = await session.scalar(select(func.count()).select_from(Race).where(*conditions))
        return int(total or 0)

    items = rows[:first]
    return Page(
        items=items,
        cursors=[_race_cursor(race) for race in items],
        has_next=len(rows) > first,
        has_previous=after is not None,
        count_total=count_total,
    )


async def get_race(session: AsyncSession, race_id: str) -> Race | None:
    return await session.get(Race, race_id, options=[without_raw(Race)])


async def entries_by_race(session: AsyncSession, race_ids: Sequence[str]) -> dict[str, list[Entry]]:
    statement = (
        select(Entry)
        .options(without_raw(Entry))
        .where(col(Entry.race_id).in_(race_ids))
        .order_by(col(Entry.race_id), col(Entry.gate_number))
    )
    grouped: dict[str, list[Entry]] = defaultdict(list)
    for entry in (await session.scalars(statement)).all():
        grouped[entry.race_id].append(entry)
    return grouped


async def _by_key(session: AsyncSession, model: Any, key: Any, values: Sequence[str]) -> Any:
    rows = await session.scalars(
        select(model).options(without_raw(model)).where(col(key).in_(values))
    )
    return {getattr(row, key.key): row for row in rows.all()}


async def races_by_id(session: AsyncSession, ids: Sequence[str]) -> dict[str, Race]:
    found: dict[str, Race] = await _by_key(session, Race, Race.id, ids)
    return found


async def horses_by_no(session: AsyncSession, numbers: Sequence[str]) -> dict[str, Horse]:
    found: dict[str, Horse] = await _by_key(session, Horse, Horse.horse_no, numbers)
    return found


async def jockeys_by_no(session: AsyncSession, numbers: Sequence[str]) -> dict[str, Jockey]:
    found: dict[str, Jockey] = await _by_key(session, Jockey, Jockey.jockey_no, numbers)
    return found


async def trainers_by_no(session: AsyncSession, numbers: Sequence[str]) -> dict[str, Trainer]:
    found: dict[str, Trainer] = await _by_key(session, Trainer, Trainer.trainer_no, numbers)
    return found


@dataclass(frozen=True, slots=True)
class DayStatus:
    total: int
    collected: int
    enriched: int
    resulted: int

    @property
    def status(self) -> str:
        """NOT_COLLECTED, COLLECTING (some races), COLLECTED, ENRICHED or RESULTED (all races)."""
        if self.total == 0 or self.collected == 0:
            return "NOT_COLLECTED"
        if self.collected < self.total:
            return "COLLECTING"
        if self.resulted == self.total:
            return "RESULTED"
        return "ENRICHED" if self.enriched == self.total else "COLLECTED"


async def day_status(session: AsyncSession, race_date: date, meet: int) -> DayStatus:
    def count_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.count().filter(condition)

    row = (
        await session.execute(
            select(
                func.count(),
                count_where(col(Race.collection_status) == CollectionStatus.COLLECTED),
                count_where(col(Race.enrichment_status) == EnrichmentStatus.ENRICHED),
                count_where(
                    col(Race.result_status).in_([ResultStatus.RESULTED, ResultStatus.NO_RESULT])
                ),
            ).where(col(Race.race_date) == race_date, col(Race.meet) == meet)
        )
    ).one()
    return DayStatus(total=row[0], collected=row[1], enriched=row[2], resulted=row[3])


async def existing_race_ids(session: AsyncSession, ids: Sequence[str]) -> list[str]:
    return list((await session.scalars(select(col(Race.id)).where(col(Race.id).in_(ids)))).all())
