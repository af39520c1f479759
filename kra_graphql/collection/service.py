"""Collect race cards and results, enrich horses, jockeys and trainers: one step per race.

Each race is written in its own transaction, so one failing race leaves the others
stored and the job ends PARTIAL with the failure listed; the failed race keeps a FAILED
row with its error until a later collection of its day stores it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlmodel import col

from kra_graphql.collection import store
from kra_graphql.collection.params import ENTITY_KINDS, CollectParams, EnrichParams, ResultsParams
from kra_graphql.db import utcnow
from kra_graphql.jobs.failures import describe
from kra_graphql.kra import records
from kra_graphql.kra.client import KraClient
from kra_graphql.progress import JobOutcome, Progress
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
    race_id,
)
from kra_graphql.runtime import Runtime

# Detail calls in flight at once within one job; the shared rate limiter paces them.
DETAIL_CONCURRENCY = 4


class NothingCollected(Exception):
    """Every race of the job failed: re-raise the first cause instead of a PARTIAL."""


async def collect_races(
    runtime: Runtime, kra: KraClient, progress: Progress, params: CollectParams
) -> JobOutcome:
    await progress.step("discovering races")
    numbers = params.race_numbers or await _day_numbers(runtime, kra, params.race_date, params.meet)
    day = format_race_date(params.race_date)
    await progress.log(f"{len(numbers)} race(s) on {day} at meet {params.meet}")
    await progress.set_total(len(numbers) * (2 if params.enrich else 1))
    async with runtime.write() as session:
        await store.mark_pending(session, params.race_date, params.meet, numbers)
    withdrawn = await _withdrawals(kra, progress, params.race_date, params.meet)

    collected: list[str] = []
    missing: list[int] = []
    failures: list[dict[str, Any]] = []
    errors: list[Exception] = []
    for number in numbers:
        await progress.step(f"collecting race {number}")
        outcome = await _race_step(
            runtime, kra, progress, params.race_date, params.meet, number,
            step="collect", with_results=params.with_results, failures=failures, errors=errors,
            withdrawn=withdrawn,
        )  # fmt: skip
        if outcome is not None and outcome[1] is not None:
            collected.append(outcome[0])
        elif outcome is not None:
            missing.append(number)
            async with runtime.write() as session:
                await store.forget_uncollected(session, params.race_date, params.meet, number)
        else:
            async with runtime.write() as session:
                await store.mark_failed(
                    session, params.race_date, params.meet, number, describe(errors[-1])
                )

    result: dict[str, Any] = {"raceIds": collected, "missingRaceNumbers": missing}
    if params.enrich:
        enriched = await _enrich(runtime, kra, progress, collected, set(ENTITY_KINDS))
        failures += enriched.failures
        result["enrichedEntities"] = enriched.result["enrichedEntities"]
        # Races that failed to collect still count as enrichment steps.
        await progress.advance(len(numbers) - len(collected))
    if errors and not collected:
        raise errors[0]
    return JobOutcome(result=result, failures=failures)


async def enrich_races(
    runtime: Runtime, kra: KraClient, progress: Progress, params: EnrichParams
) -> JobOutcome:
    await progress.set_total(len(params.race_ids))
    return await _enrich(runtime, kra, progress, params.race_ids, set(params.kinds))


async def collect_results(
    runtime: Runtime, kra: KraClient, progress: Progress, params: ResultsParams
) -> JobOutcome:
    await progress.step("finding races")
    if params.race_number is not None:
        numbers = [params.race_number]
    else:
        async with runtime.sessions() as session:
            stored = await session.scalars(
                select(col(Race.race_number))
                .where(col(Race.race_date) == params.race_date, col(Race.meet) == params.meet)
                .order_by(col(Race.race_number))
            )
            numbers = list(stored.all()) or await kra.race_numbers(params.race_date, params.meet)
    await progress.set_total(len(numbers))
    resulted: list[str] = []
    pending: list[str] = []
    failures: list[dict[str, Any]] = []
    errors: list[Exception] = []
    for number in numbers:
        await progress.step(f"result of race {number}")
        outcome = await _race_step(
            runtime, kra, progress, params.race_date, params.meet, number,
            step="results", with_results=True, failures=failures, errors=errors,
        )  # fmt: skip
        if outcome is not None:
            rid, race = outcome
            has_result = race is not None and store.result_status(race) is not ResultStatus.PENDING
            (resulted if has_result else pending).append(rid)
    if errors and not (resulted or pending):
        raise errors[0]
    return JobOutcome(result={"resulted": resulted, "pending": pending}, failures=failures)


async def _race_step(
    runtime: Runtime,
    kra: KraClient,
    progress: Progress,
    day: date,
    meet: int,
    number: int,
    *,
    step: str,
    with_results: bool,
    failures: list[dict[str, Any]],
    errors: list[Exception],
    withdrawn: dict[int, set[int]] | None = None,
) -> tuple[str, records.Race | None] | None:
    """Fetch and store one race in its own transaction, then count the step done.

    Returns (race id, the race or None when the API has none), or None when it failed;
    a failure is listed and the job goes on with the next race.
    """
    rid = race_id(meet, day, number)
    try:
        race = await kra.race(day, meet, number)
        if race is not None:
            async with runtime.write() as session:
                scratched = None if withdrawn is None else withdrawn.get(number, set())
                await store.store_race(
                    session, race, with_results=with_results, scratched=scratched
                )
        return rid, race
    except Exception as error:
        errors.append(error)
        failures.append({"raceId": rid, "step": step, "error": describe(error)})
        await progress.log(f"race {number} failed: {describe(error)}", level="WARNING")
        return None
    finally:
        await progress.advance()


async def _day_numbers(runtime: Runtime, kra: KraClient, day: date, meet: int) -> list[int]:
    """The day's races as the API lists them, and any that failed to collect before: a
    failed race is collected again by the next collection of its day."""
    async with runtime.sessions() as session:
        failed = await session.scalars(
            select(col(Race.race_number)).where(
                col(Race.race_date) == day,
                col(Race.meet) == meet,
                col(Race.collection_status) == CollectionStatus.FAILED,
            )
        )
        retried = set(failed.all())
    return sorted(set(await kra.race_numbers(day, meet)) | retried)


async def _withdrawals(
    kra: KraClient, progress: Progress, day: date, meet: int
) -> dict[int, set[int]] | None:
    """Gate numbers withdrawn before the race, by race number: a race card shows none of
    them until the result. None when the API would not say (the cards are still worth
    storing; a withdrawal stored earlier is kept)."""
    try:
        scratchings = await kra.scratchings(day, meet)
    except Exception as error:
        await progress.log(f"withdrawals unknown: {describe(error)}", level="WARNING")
        return None
    found: dict[int, set[int]] = {}
    for scratching in scratchings:
        if scratching.gate_number is not None:
            found.setdefault(scratching.race_number, set()).add(scratching.gate_number)
    return found


async def _enrich(
    runtime: Runtime,
    kra: KraClient,
    progress: Progress,
    race_ids: Sequence[str],
    kinds: set[str],
) -> JobOutcome:
    """Fetch details of every entity of these races that is missing or stale."""
    max_age = timedelta(days=runtime.settings.kra_details_max_age_days)
    done: set[tuple[str, str]] = set()
    fetched = 0
    failures: list[dict[str, Any]] = []
    limit = asyncio.Semaphore(DETAIL_CONCURRENCY)

    for rid in race_ids:
        await progress.step(f"enriching {rid}")
        wanted = [
            key for key in await _stale_entities(runtime, rid, kinds, max_age) if key not in done
        ]
        done.update(wanted)

        outcomes = await asyncio.gather(
            *(_fetch_entity(runtime, kra, limit, rid, kind, number) for kind, number in wanted)
        )
        race_failures = [outcome for outcome in outcomes if outcome is not None]
        failures += race_failures
        fetched += len(wanted) - len(race_failures)
        # Enriched means every kind is fresh, not only the kinds this job was asked for.
        stale = await _stale_entities(runtime, rid, set(ENTITY_KINDS), max_age)
        status = EnrichmentStatus.PARTIAL if stale else EnrichmentStatus.ENRICHED
        async with runtime.write() as session:
            await session.execute(
                update(Race)
                .where(col(Race.id) == rid)
                .values(enrichment_status=status, enriched_at=utcnow(), updated_at=utcnow())
            )
        await progress.advance()
    return JobOutcome(result={"enrichedEntities": fetched}, failures=failures)


async def _fetch_entity(
    runtime: Runtime,
    kra: KraClient,
    limit: asyncio.Semaphore,
    rid: str,
    kind: str,
    number: str,
) -> dict[str, Any] | None:
    """None on success, else the failure to list in the job result."""
    async with limit:
        try:
            await _fetch_details(runtime, kra, kind, number)
        except Exception as error:
            return {
                "raceId": rid,
                "step": "enrich",
                "entity": f"{kind}:{number}",
                "error": describe(error),
            }
    return None


async def _stale_entities(
    runtime: Runtime, rid: str, kinds: set[str], max_age: timedelta
) -> list[tuple[str, str]]:
    cutoff = utcnow() - max_age
    found: list[tuple[str, str]] = []
    async with runtime.sessions() as session:
        for kind in sorted(kinds):
            model, key, column, _, _ = _ENTITIES[kind]
            fetched_at = col(model.details_fetched_at)
            rows = await session.scalars(
                select(col(key))
                .join(Entry, col(column) == col(key))
                .where(col(Entry.race_id) == rid)
                .where(fetched_at.is_(None) | (fetched_at < cutoff))
                .distinct()
            )
            found += [(kind, number) for number in rows.all()]
    return found


async def _fetch_details(runtime: Runtime, kra: KraClient, kind: str, number: str) -> None:
    model, key, _, fetch, save = _ENTITIES[kind]
    detail = await fetch(kra, number)
    async with runtime.write() as session:
        if detail is None:
            # The API has no details for it: remember we asked, so we do not ask every day.
            await session.execute(
                update(model).where(col(key) == number).values(details_fetched_at=utcnow())
            )
        else:
            await save(session, detail)


# kind -> (table, its number, the entry column pointing at it, KRA call, upsert)
_ENTITIES: dict[str, tuple[Any, Any, Any, Any, Any]] = {
    "HORSE": (Horse, Horse.horse_no, Entry.horse_no, KraClient.horse, store.store_horse),
    "JOCKEY": (Jockey, Jockey.jockey_no, Entry.jockey_no, KraClient.jockey, store.store_jockey),
    "TRAINER": (
        Trainer,
        Trainer.trainer_no,
        Entry.trainer_no,
        KraClient.trainer,
        store.store_trainer,
    ),
}
