"""Horses, jockeys and trainers: lists with name search, and their race histories."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kra_graphql.pagination import Key, Keyset, Page, keyset_page, page_of
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


# By name, then number.
_BY_NAME = {
    kind: Keyset(Key(col(model.name)), Key(col(key))) for kind, (model, key, _) in _MODELS.items()
}


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_people(
    session: AsyncSession, kind: PersonKind, query: PeopleQuery, *, first: int, after: str | None
) -> Page[Any]:
    """By name, then number; `name` matches any part of the name (Hangul included)."""
    model, _, _ = _MODELS[kind]
    conditions: list[ColumnElement[bool]] = []
    if query.name:
        conditions.append(func.lower(col(model.name)).like(_like(query.name.lower()), escape="\\"))
    if query.home_meet is not None:
        conditions.append(col(model.home_meet) == query.home_meet)
    return await keyset_page(
        session,
        model,
        _BY_NAME[kind],
        conditions,
        first=first,
        after=after,
        options=[without_raw(model)],
    )


async def get_person(session: AsyncSession, kind: PersonKind, number: str) -> Any:
    model, _, _ = _MODELS[kind]
    return await session.get(model, number)


HistoryKey = tuple[str, int, str | None]  # (number, first, after)


# Newest race first; an entry's id tells the entries of one race apart.
_HISTORY = Keyset(
    Key(col(Race.race_date), descending=True, parse=date.fromisoformat),
    Key(col(Race.race_number), descending=True, parse=int),
    Key(col(Entry.id), descending=True, parse=int),
)


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
    races: dict[str, tuple[date, int]] = {}  # the date and number of each race read

    def cursor(entry: Entry) -> str:
        return _HISTORY.cursor(*races[entry.race_id], entry.id)

    for (first, after), numbers in by_shape.items():
        conditions: list[ColumnElement[bool]] = [col(entry_column).in_(numbers)]
        if after is not None:
            conditions.append(_HISTORY.after(_HISTORY.decode(after)))
        order = _HISTORY.order_by()
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
        grouped: dict[str, list[Entry]] = defaultdict(list)
        for entry, race_date, race_number in rows:
            grouped[getattr(entry, entry_column.key)].append(entry)
            races[entry.race_id] = (race_date, race_number)
        for number in numbers:
            pages[(number, first, after)] = page_of(
                grouped.get(number, []),
                first=first,
                after=after,
                cursor=cursor,
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
