"""Horses, jockeys and trainers: lists with name search, and their race histories."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kra_graphql.errors import BadUserInput
from kra_graphql.pagination import Page, decode_cursor, encode_cursor
from kra_graphql.races.models import Entry, Horse, Jockey, Race, Trainer
from kra_graphql.races.queries import without_raw

PersonKind = Literal["horse", "jockey", "trainer"]
KINDS: tuple[PersonKind, ...] = ("horse", "jockey", "trainer")
_MODELS: dict[PersonKind, tuple[Any, Any, Any]] = {
    "horse": (Horse, Horse.horse_no, Entry.horse_no),
    "jockey": (Jockey, Jockey.jockey_no, Entry.jockey_no),
    "trainer": (Trainer, Trainer.trainer_no, Entry.trainer_no),
}


@dataclass(frozen=True, slots=True)
class PeopleQuery:
    name: str | None = None
    home_meet: int | None = None


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_people(
    session: AsyncSession, kind: PersonKind, query: PeopleQuery, *, first: int, after: str | None
) -> Page[Any]:
    """By name, then number; `name` matches any part of the name (Hangul included)."""
    model, key, _ = _MODELS[kind]
    conditions: list[ColumnElement[bool]] = []
    if query.name:
        conditions.append(func.lower(col(model.name)).like(_like(query.name.lower()), escape="\\"))
    if query.home_meet is not None:
        conditions.append(col(model.home_meet) == query.home_meet)
    page_conditions = list(conditions)
    if after is not None:
        name, number = decode_cursor(after, parts=2)
        page_conditions.append(
            or_(col(model.name) > name, and_(col(model.name) == name, col(key) > number))
        )
    rows = list(
        (
            await session.scalars(
                select(model)
                .options(without_raw(model))
                .where(*page_conditions)
                .order_by(col(model.name), col(key))
                .limit(first + 1)
            )
        ).all()
    )

    async def count_total(session: AsyncSession) -> int:
        total = await session.scalar(select(func.count()).select_from(model).where(*conditions))
        return int(total or 0)

    items = rows[:first]
    return Page(
        items=items,
        cursors=[encode_cursor(row.name, getattr(row, key.key)) for row in items],
        has_next=len(rows) > first,
        has_previous=after is not None,
        count_total=count_total,
    )


async def get_person(session: AsyncSession, kind: PersonKind, number: str) -> Any:
    model, _, _ = _MODELS[kind]
    return await session.get(model, number)


HistoryKey = tuple[str, int, str | None]  # (number, first, after)


def _history_cursor(race_date: date, race_number: int, entry_id: int | None) -> str:
    return encode_cursor(race_date.isoformat(), race_number, entry_id)


async def histories(
    session: AsyncSession, kind: PersonKind, keys: Sequence[HistoryKey]
) -> dict[HistoryKey, Page[Entry]]:
    """Race histories (newest first) of many horses/jockeys/trainers in one query per page
    shape: a window over the entries ranks each one's races."""
    _, _, entry_column = _MODELS[kind]
    by_shape: dict[tuple[int, str | None], list[str]] = defaultdict(list)
    for number, first, after in keys:
        by_shape[(first, after)].append(number)
    pages: dict[HistoryKey, Page[Entry]] = {}
    for (first, after), numbers in by_shape.items():
        conditions: list[ColumnElement[bool]] = [col(entry_column).in_(numbers)]
        if after is not None:
            day_text, number_text, id_text = decode_cursor(after, parts=3)
            try:
                day, race_no, entry_id = (
                    date.fromisoformat(day_text),
                    int(number_text),
                    int(id_text),
                )
            except ValueError:
                raise BadUserInput("not a cursor returned by this API", field="after") from None
            conditions.append(
                or_(
                    col(Race.race_date) < day,
                    and_(col(Race.race_date) == day, col(Race.race_number) < race_no),
                    and_(
                        col(Race.race_date) == day,
                        col(Race.race_number) == race_no,
                        col(Entry.id) < entry_id,
                    ),
                )
            )
        order = (col(Race.race_date).desc(), col(Race.race_number).desc(), col(Entry.id).desc())
        rank = func.row_number().over(partition_by=col(entry_column), order_by=order)
        ranked = (
            select(col(Entry.id).label("entry_id"), rank.label("rank"))
            .join(Race, col(Race.id) == col(Entry.race_id))
            .where(*conditions)
            .subquery()
        )
        rows = await session.execute(
            select(Entry, col(Race.race_date), col(Race.race_number))
            .options(without_raw(Entry))
            .join(ranked, ranked.c.entry_id == col(Entry.id))
            .join(Race, col(Race.id) == col(Entry.race_id))
            .where(ranked.c.rank <= first + 1)
            .order_by(*order)
        )
        grouped: dict[str, list[tuple[Entry, date, int]]] = defaultdict(list)
        for entry, race_date, race_number in rows:
            grouped[getattr(entry, entry_column.key)].append((entry, race_date, race_number))
        for number in numbers:
            found = grouped.get(number, [])
            shown = found[:first]
            pages[(number, first, after)] = Page(
                items=[entry for entry, _, _ in shown],
                cursors=[_history_cursor(d, n, e.id) for e, d, n in shown],
                has_next=len(found) > first,
                has_previous=after is not None,
                count_total=_history_counter(entry_column, number),
            )
    return pages


def _history_counter(entry_column: Any, number: str) -> Any:
    async def count_total(session: AsyncSession) -> int:
        total = await session.scalar(
            select(func.count()).select_from(Entry).where(col(entry_column) == number)
        )
        return int(total or 0)

    return count_total
