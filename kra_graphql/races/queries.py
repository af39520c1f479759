"""Read-side queries over races and their entries."""

from __future__ import annotations

from collections import defaultdict, namedtuple
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any, Literal, NamedTuple, TypeVar, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    bindparam,
    func,
    null,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer
from sqlmodel import SQLModel, col

from kra_graphql.db import table_of
from kra_graphql.jobs.models import Job, JobKind, JobStatus
from kra_graphql.pagination import Key, Keyset, Page, page_of
from kra_graphql.races.dates import format_race_date
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
from kra_graphql.reads import fetch_all, reused

M = TypeVar("M", bound=SQLModel)


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


# Each filter of a race listing as a condition on a parameter of the filter's name: a
# listing's statement depends only on which filters it uses, so it is built once.
_CONDITIONS: dict[str, Callable[[], ColumnElement[bool]]] = {
    "date_from": lambda: col(Race.race_date) >= bindparam("date_from"),
    "date_to": lambda: col(Race.race_date) <= bindparam("date_to"),
    "meet": lambda: col(Race.meet) == bindparam("meet"),
    "collection_status": lambda: col(Race.collection_status) == bindparam("collection_status"),
    "enrichment_status": lambda: col(Race.enrichment_status) == bindparam("enrichment_status"),
    "result_status": lambda: col(Race.result_status) == bindparam("result_status"),
    "race_class": lambda: col(Race.race_class) == bindparam("race_class"),
    "distance_min": lambda: col(Race.distance) >= bindparam("distance_min"),
    "distance_max": lambda: col(Race.distance) <= bindparam("distance_max"),
}


def _filter_values(query: RaceQuery) -> dict[str, Any]:
    """The filters in use, by name, with their values."""
    return {name: getattr(query, name) for name in _CONDITIONS if getattr(query, name) is not None}


def _conditions(filters: frozenset[str]) -> list[ColumnElement[bool]]:
    return [make() for name, make in _CONDITIONS.items() if name in filters]


def without_raw(model: Any) -> Any:
    """Raw KRA payloads are for audit, never served: reads leave them in the database."""
    return defer(model.raw)


def _served_columns(model: type[M]) -> list[Any]:
    return [column for column in table_of(model).columns if column.key != "raw"]


@cache
def _row_type(model: type[SQLModel]) -> Any:
    """A named tuple of the model's served columns: its attributes read in tens of
    nanoseconds, where an SQLAlchemy `Row` takes hundreds, and GraphQL objects read
    dozens of them per row."""
    names = [column.key for column in _served_columns(model)]
    return namedtuple(f"{model.__name__}Row", names)


async def served_rows(
    session: AsyncSession, statement: Select[Any], model: type[M], **params: Any
) -> list[M]:
    """Run a select of `served(model)` and hand its rows out typed as the model.

    The GraphQL read path only reads column attributes; plain named tuples carry those
    under the same names at a fraction of the cost of ORM instances. They are read-only
    and belong to no session."""
    make = _row_type(model)._make
    return cast(list[M], [make(row) for row in await fetch_all(session, statement, params)])


def served(model: type[M]) -> Select[Any]:
    """A select of every column of the model but its raw payload."""
    return select(*_served_columns(model))


# Date newest first, then meet, then number; a paged listing starts after the parameters.
_ORDER = Keyset(
    Key(col(Race.race_date), descending=True, parse=date.fromisoformat),
    Key(col(Race.meet), parse=int),
    Key(col(Race.race_number), parse=int),
)
_AFTER = ("after_day", "after_meet", "after_number")


@cache
def _listing(filters: frozenset[str], paged: bool) -> Select[Any]:
    after = [_ORDER.after([bindparam(name) for name in _AFTER])] if paged else []
    return reused(
        served(Race)
        .where(*_conditions(filters), *after)
        .order_by(*_ORDER.order_by())
        .limit(bindparam("limit"))
    )


@cache
def _count(filters: frozenset[str]) -> Select[Any]:
    return reused(select(func.count()).select_from(Race).where(*_conditions(filters)))


async def list_races(
    session: AsyncSession, query: RaceQuery, *, first: int, after: str | None
) -> Page[Race]:
    values = _filter_values(query)
    filters = frozenset(values)
    cursor = dict(zip(_AFTER, _ORDER.decode(after), strict=True)) if after is not None else {}
    page_values = {**values, **cursor, "limit": first + 1}
    rows = await served_rows(session, _listing(filters, after is not None), Race, **page_values)

    async def count_total(session: AsyncSession) -> int:
        found = await fetch_all(session, _count(filters), values)
        return int(found[0][0] or 0)

    return page_of(rows, first=first, after=after, cursor=_ORDER.cursor_of, count_total=count_total)


async def get_race(session: AsyncSession, race_id: str) -> Race | None:
    found: dict[str, Race] = await _by_key(session, Race, Race.id, [race_id])
    return found.get(race_id)


# Statements built once: building one costs more than running it from the compiled cache.
_KEYS: BindParameter[Any] = bindparam("keys", expanding=True)

PersonKind = Literal["horse", "jockey", "trainer"]
_PEOPLE: dict[PersonKind, tuple[type[SQLModel], Any, Any]] = {
    "horse": (Horse, Horse.horse_no, Entry.horse_no),
    "jockey": (Jockey, Jockey.jockey_no, Entry.jockey_no),
    "trainer": (Trainer, Trainer.trainer_no, Entry.trainer_no),
}


class EntryWithPeople(NamedTuple):
    """An entry and, for the kinds asked for, its horse, jockey and trainer."""

    entry: Entry
    horse: Horse | None
    jockey: Jockey | None
    trainer: Trainer | None


class _Part(NamedTuple):
    slot: int  # 0 horse, 1 jockey, 2 trainer: its place in EntryWithPeople after the entry
    make: Callable[[Sequence[Any]], Any]
    start: int
    end: int
    key: int  # the person's key, null when the outer join found no one


_SLOTS = {"horse": 0, "jockey": 1, "trainer": 2}

# Columns an entries listing always reads: its grouping, its order and the people's keys.
_ENTRY_KEYS = frozenset(
    f"entries.{name}" for name in ("race_id", "gate_number", "horse_no", "jockey_no", "trainer_no")
)


def _projected(columns: list[Any], needed: frozenset[str] | None) -> list[Any]:
    """The columns, with NULL in place of each one the reader does not need: rows keep
    their shape, and a NULL costs next to nothing to send and decode."""
    if needed is None:
        return columns
    return [
        column if f"{column.table.name}.{column.key}" in needed else null().label(column.key)
        for column in columns
    ]


@cache
def _entries_with(
    kinds: frozenset[PersonKind], needed: frozenset[str] | None = None
) -> tuple[Select[Any], list[_Part], int]:
    """Entries of many races joined to the people asked for: one query where a loader per
    kind would take one more round trip each; and where each kind's columns sit in a row.
    With `needed` (qualified column names), every other column is read as NULL."""
    if needed is not None:
        needed = needed | _ENTRY_KEYS
    columns = _projected(_served_columns(Entry), needed)
    width = len(columns)
    parts: list[_Part] = []
    statement_from: Any = table_of(Entry)
    for kind in ("horse", "jockey", "trainer"):
        if kind not in kinds:
            continue
        model, key, reference = _PEOPLE[kind]
        own = _served_columns(model)
        keys = [column.key for column in own]
        start = len(columns)
        parts.append(
            _Part(
                _SLOTS[kind], _row_type(model)._make, start, start + len(own), keys.index(key.key)
            )
        )
        if needed is not None:
            needed = needed | {f"{table_of(model).name}.{key.key}"}
        columns += _projected(own, needed)
        statement_from = statement_from.outerjoin(table_of(model), col(key) == col(reference))
    statement = (
        select(*columns)
        .select_from(statement_from)
        .where(col(Entry.race_id).in_(_KEYS))
        .order_by(col(Entry.race_id), col(Entry.gate_number))
    )
    return reused(statement), parts, width


async def entries_by_race(
    session: AsyncSession,
    race_ids: Sequence[str],
    kinds: frozenset[PersonKind] = frozenset(),
    needed: frozenset[str] | None = None,
) -> dict[str, list[EntryWithPeople]]:
    """Entries by race, ordered by gate number, with the people of the kinds given. With
    `needed`, columns not named there (`table.column`) are None in the rows."""
    statement, parts, width = _entries_with(kinds, needed)
    make_entry = _row_type(Entry)._make
    grouped: dict[str, list[EntryWithPeople]] = defaultdict(list)
    for row in await fetch_all(session, statement, {"keys": list(race_ids)}):
        entry = make_entry(row[:width])
        people: list[Any] = [None, None, None]
        for part in parts:
            values = row[part.start : part.end]
            if values[part.key] is not None:
                people[part.slot] = part.make(values)
        grouped[entry.race_id].append(EntryWithPeople(entry, *people))
    return grouped


_BY_KEY: dict[Any, Select[Any]] = {}


async def _by_key(session: AsyncSession, model: Any, key: Any, values: Sequence[str]) -> Any:
    statement = _BY_KEY.get(key)
    if statement is None:
        statement = _BY_KEY[key] = reused(served(model).where(col(key).in_(_KEYS)))
    rows = await served_rows(session, statement, model, keys=list(values))
    return {getattr(row, key.key): row for row in rows}


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
    failed_races: tuple[int, ...] = ()
    # A collection or results job of the day is queued or running.
    collecting: bool = False

    @property
    def status(self) -> str:
        """COLLECTING while a job works on the day; else NOT_COLLECTED, FAILED (every race
        stored failed), PARTIAL (some races failed or were never fetched), or COLLECTED,
        ENRICHED or RESULTED (all races)."""
        if self.collecting:
            return "COLLECTING"
        if self.total == 0:
            return "NOT_COLLECTED"
        if self.collected == 0:
            return "FAILED" if self.failed_races else "NOT_COLLECTED"
        if self.collected < self.total:
            return "PARTIAL"
        if self.resulted == self.total:
            return "RESULTED"
        return "ENRICHED" if self.enriched == self.total else "COLLECTED"


# Job kinds that write a day's races, and the states in which one still will.
_DAY_WRITERS = (JobKind.COLLECTION, JobKind.RESULTS)
_ACTIVE = (JobStatus.QUEUED, JobStatus.PROCESSING)


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
    failed = await session.scalars(
        select(col(Race.race_number))
        .where(col(Race.race_date) == race_date, col(Race.meet) == meet)
        .where(col(Race.collection_status) == CollectionStatus.FAILED)
        .order_by(col(Race.race_number))
    )
    # The job rows, not a status kept on the races: a job that dies or is cancelled
    # leaves nothing behind to clear, and queued or recovered jobs count too.
    parameters = col(Job.parameters)
    working = await session.scalars(
        select(parameters)
        .where(col(Job.status).in_(_ACTIVE), col(Job.kind).in_(_DAY_WRITERS))
        .where(parameters["date"].as_string() == format_race_date(race_date))
    )
    return DayStatus(
        total=row[0],
        collected=row[1],
        enriched=row[2],
        resulted=row[3],
        failed_races=tuple(failed.all()),
        collecting=any(job.get("meet") == meet for job in working.all()),
    )


async def existing_race_ids(session: AsyncSession, ids: Sequence[str]) -> list[str]:
    return list((await session.scalars(select(col(Race.id)).where(col(Race.id).in_(ids)))).all())
