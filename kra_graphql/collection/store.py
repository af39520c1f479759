"""Write parsed KRA records into our tables with idempotent upserts on natural keys."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy import update as update_rows
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kra_graphql.collection.quality import assess
from kra_graphql.db import table_of, upsert, utcnow
from kra_graphql.kra import records
from kra_graphql.races.models import (
    CAREER_COUNTS,
    CollectionStatus,
    EnrichmentStatus,
    Entry,
    Horse,
    Jockey,
    Race,
    ResultStatus,
    Trainer,
    race_id,
)

CARD_COLUMNS = (
    "horse_no", "horse_name", "jockey_no", "trainer_no", "owner_no", "owner_name", "age", "sex",
    "horse_class", "carried_weight", "body_weight", "body_weight_change", "rating", "raw",
)  # fmt: skip
RESULT_COLUMNS = (
    "win_odds", "place_odds", "scratched", "finish_position", "finish_code", "finish_time",
    "margin",
)  # fmt: skip


def result_status(race: records.Race) -> ResultStatus:
    if race.finished_without_placings:
        return ResultStatus.NO_RESULT
    return ResultStatus.RESULTED if race.has_results else ResultStatus.PENDING


async def store_race(
    session: AsyncSession,
    race: records.Race,
    *,
    with_results: bool = True,
    scratched: Collection[int] | None = None,
) -> str:
    """Upsert one race card (and its result when published and wanted). Returns the race id.

    `scratched`: gate numbers the day's withdrawals list for this race; None when they are
    not known, which leaves a withdrawal stored earlier as it is.
    """
    now = utcnow()
    rid = race_id(race.meet, race.race_date, race.race_number)
    await _store_people(session, race.runners, now)
    score, warnings = assess(race)
    status = result_status(race) if with_results else ResultStatus.PENDING
    row: dict[str, Any] = {
        "id": rid,
        "race_date": race.race_date,
        "meet": race.meet,
        "race_number": race.race_number,
        "name": race.name,
        "distance": race.distance,
        "race_class": race.race_class,
        "age_condition": race.age_condition,
        "prize_condition": race.prize_condition,
        "track_condition": race.track_condition,
        "weather": race.weather,
        "collection_status": CollectionStatus.COLLECTED,
        "collection_error": None,
        "quality_score": score,
        "quality_warnings": warnings,
        "collected_at": now,
        "raw": list(race.raw_items),
        "created_at": now,
        "updated_at": now,
    }
    update = [column for column in row if column not in {"id", "created_at"}]
    if status is not ResultStatus.PENDING:
        row |= {"result_status": status, "resulted_at": now}
        update += ["result_status", "resulted_at"]
    await upsert(session, table_of(Race), [row], conflict=["id"], update=update)

    withdrawn = frozenset(scratched or ())
    entries = [_entry_row(rid, runner, now, withdrawn) for runner in race.runners]
    # Before the result, never overwrite a result stored earlier with blanks.
    columns = [*CARD_COLUMNS, "updated_at"]
    if status is not ResultStatus.PENDING:
        columns += RESULT_COLUMNS
    elif scratched is not None:
        # A card shows no withdrawal: only the day's list of withdrawals says so.
        columns.append("scratched")
    await upsert(
        session,
        table_of(Entry),
        entries,
        conflict=["race_id", "gate_number"],
        update=columns,
    )
    return rid


async def mark_pending(session: AsyncSession, day: date, meet: int, numbers: Iterable[int]) -> None:
    """Rows for the races a collection is about to fetch, so the day counts every race it
    has (not only those stored so far); races stored before keep their rows as they are."""
    now = utcnow()
    rows = [_race_stub(day, meet, number, CollectionStatus.PENDING, now) for number in numbers]
    await upsert(session, table_of(Race), rows, conflict=["id"], update=[])


async def mark_failed(session: AsyncSession, day: date, meet: int, number: int, error: str) -> None:
    """Remember a race that failed to collect, and why, until a later collection stores it.

    A card stored by an earlier collection stays COLLECTED: what failed was a refresh."""
    now = utcnow()
    stub = _race_stub(day, meet, number, CollectionStatus.FAILED, now)
    await upsert(session, table_of(Race), [stub], conflict=["id"], update=[])
    await session.execute(
        update_rows(Race)
        .where(col(Race.id) == stub["id"])
        .where(col(Race.collection_status) != CollectionStatus.COLLECTED)
        .values(collection_status=CollectionStatus.FAILED, collection_error=error, updated_at=now)
    )


async def forget_uncollected(session: AsyncSession, day: date, meet: int, number: int) -> None:
    """The API has no such race: drop the row a collection made for it, so the day does
    not count a race that does not exist. A race stored before is kept."""
    await session.execute(
        delete(Race)
        .where(col(Race.id) == race_id(meet, day, number))
        .where(col(Race.collection_status) != CollectionStatus.COLLECTED)
    )


def _race_stub(
    day: date, meet: int, number: int, status: CollectionStatus, now: datetime
) -> dict[str, Any]:
    """A race row with only what is known before the API answers."""
    return {
        "id": race_id(meet, day, number),
        "race_date": day,
        "meet": meet,
        "race_number": number,
        "collection_status": status,
        "enrichment_status": EnrichmentStatus.PENDING,
        "result_status": ResultStatus.PENDING,
        "quality_warnings": [],
        "raw": [],
        "created_at": now,
        "updated_at": now,
    }


def _entry_row(
    rid: str, runner: records.Runner, now: datetime, withdrawn: frozenset[int]
) -> dict[str, Any]:
    return {
        "race_id": rid,
        "gate_number": runner.gate_number,
        "horse_no": runner.horse_no,
        "horse_name": runner.horse_name or runner.horse_no,
        "jockey_no": runner.jockey_no,
        "trainer_no": runner.trainer_no,
        "owner_no": runner.owner_no,
        "owner_name": runner.owner_name,
        "age": runner.age,
        "sex": runner.sex,
        "horse_class": runner.horse_class,
        "carried_weight": runner.carried_weight,
        "body_weight": runner.body_weight,
        "body_weight_change": runner.body_weight_change,
        "rating": runner.rating,
        "win_odds": runner.win_odds,
        "place_odds": runner.place_odds,
        "scratched": runner.scratched or runner.gate_number in withdrawn,
        "finish_position": runner.finish_position,
        "finish_code": runner.finish_code,
        "finish_time": runner.finish_time,
        "margin": runner.margin,
        "raw": runner.raw,
        "created_at": now,
        "updated_at": now,
    }


async def _store_people(
    session: AsyncSession, runners: Iterable[records.Runner], now: datetime
) -> None:
    """Identity rows the entries point at; details arrive with enrichment."""
    horses: dict[str, dict[str, Any]] = {}
    jockeys: dict[str, dict[str, Any]] = {}
    trainers: dict[str, dict[str, Any]] = {}
    stamps = {"created_at": now, "updated_at": now}
    for runner in runners:
        horses[runner.horse_no] = {
            "horse_no": runner.horse_no,
            "name": runner.horse_name or runner.horse_no,
            "sex": runner.sex,
            **stamps,
        }
        if runner.jockey_no:
            jockeys[runner.jockey_no] = {
                "jockey_no": runner.jockey_no,
                "name": runner.jockey_name or runner.jockey_no,
                **stamps,
            }
        if runner.trainer_no:
            trainers[runner.trainer_no] = {
                "trainer_no": runner.trainer_no,
                "name": runner.trainer_name or runner.trainer_no,
                **stamps,
            }
    for table, rows, key in (
        (table_of(Horse), horses, "horse_no"),
        (table_of(Jockey), jockeys, "jockey_no"),
        (table_of(Trainer), trainers, "trainer_no"),
    ):
        await upsert(
            session, table, sorted(rows.values(), key=lambda r: r[key]), conflict=[key], update=[]
        )


async def store_horse(session: AsyncSession, detail: records.HorseDetail) -> None:
    now = utcnow()
    row: dict[str, Any] = {
        "horse_no": detail.horse_no,
        "name": detail.name or detail.horse_no,
        "sex": detail.sex,
        "birth_date": detail.birth_date,
        "home_meet": detail.home_meet,
        "sire_no": detail.sire_no,
        "sire_name": detail.sire_name,
        "dam_no": detail.dam_no,
        "dam_name": detail.dam_name,
        "rating": detail.rating,
        "prize_total": detail.prize_total,
        "last_price": detail.last_price_krw,
        **_career(detail),
        "details_fetched_at": now,
        "raw": detail.raw,
        "created_at": now,
        "updated_at": now,
    }
    await _upsert_detail(session, table_of(Horse), row, "horse_no")


async def store_jockey(session: AsyncSession, detail: records.JockeyDetail) -> None:
    now = utcnow()
    row: dict[str, Any] = {
        "jockey_no": detail.jockey_no,
        "name": detail.name or detail.jockey_no,
        "birth_date": detail.birth_date,
        "debut_date": detail.debut_date,
        "affiliation": detail.affiliation,
        "home_meet": detail.home_meet,
        **_career(detail),
        "details_fetched_at": now,
        "raw": detail.raw,
        "created_at": now,
        "updated_at": now,
    }
    await _upsert_detail(session, table_of(Jockey), row, "jockey_no")


async def store_trainer(session: AsyncSession, detail: records.TrainerDetail) -> None:
    now = utcnow()
    row: dict[str, Any] = {
        "trainer_no": detail.trainer_no,
        "name": detail.name or detail.trainer_no,
        "home_meet": detail.home_meet,
        "affiliation": detail.affiliation,
        "start_date": detail.start_date,
        **_career(detail),
        "win_rate_total": detail.win_rate_total,
        "place_rate_total": detail.place_rate_total,
        "details_fetched_at": now,
        "raw": detail.raw,
        "created_at": now,
        "updated_at": now,
    }
    await _upsert_detail(session, table_of(Trainer), row, "trainer_no")


def _career(detail: records.Career) -> dict[str, int | None]:
    return {name: getattr(detail, name) for name in CAREER_COUNTS}


async def _upsert_detail(session: AsyncSession, table: Any, row: dict[str, Any], key: str) -> None:
    update = [column for column in row if column not in {key, "created_at"}]
    await upsert(session, table, [row], conflict=[key], update=update)
