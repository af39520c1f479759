"""collectionStatus tells the truth: failed races, running days, partial enrichment, and
scratched runners kept out of predictions. Real worker, replay server, PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql import GraphQLRequest
from gql.client import AsyncClientSession
from sqlalchemy import delete, select, update
from sqlmodel import col

from kra_graphql.collection.params import CollectParams
from kra_graphql.config import Settings
from kra_graphql.jobs.models import JobKind, JobStatus
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.jobs.service import submit_job
from kra_graphql.kra import endpoints
from kra_graphql.prediction.card import build_card
from kra_graphql.prediction.predictors import FormPredictor
from kra_graphql.races.models import Entry, Jockey, Race
from kra_graphql.runtime import Runtime
from tests.conftest import FIXTURES, settings_env
from tests.jobs_support import result_of, run_to_end, wait_job
from tests.support import Process

pytestmark = pytest.mark.usefixtures("worker_process")

STATUS = """
query S($d: String!, $m: Int!) {
  collectionStatus(date: $d, meet: $m) { total collected enriched status failedRaces }
}
"""
RACE = "query R($id: ID!) { race(id: $id) { collectionStatus collectionError enrichmentStatus } }"


def collect(day: str, meet: int, **options: Any) -> dict[str, Any]:
    race_date = date(int(day[:4]), int(day[4:6]), int(day[6:]))
    return CollectParams(race_date=race_date, meet=meet, **options).to_json()


async def day_status(session: AsyncClientSession, day: str, meet: int) -> dict[str, Any]:
    found = await session.execute(GraphQLRequest(STATUS, variable_values={"d": day, "m": meet}))
    status: dict[str, Any] = found["collectionStatus"]
    return status


async def race_state(session: AsyncClientSession, race_id: str) -> dict[str, Any]:
    found = await session.execute(GraphQLRequest(RACE, variable_values={"id": race_id}))
    race: dict[str, Any] = found["race"]
    return race


async def forget_day(runtime: Runtime, day: str, meet: int) -> None:
    """Earlier tests may have collected the day: a race stored once stays COLLECTED when a
    later fetch fails, so these start from a day never collected."""
    race_date = date(int(day[:4]), int(day[4:6]), int(day[6:]))
    async with runtime.write() as session:
        await session.execute(
            delete(Race).where(col(Race.race_date) == race_date, col(Race.meet) == meet)
        )


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[[Settings], Process]]:
    started: list[Process] = []

    def start(settings: Settings) -> Process:
        process = Process(["worker"], settings_env(settings), tmp_path / "worker.log")
        started.append(process)
        process.wait_for_output("worker.started")
        return process

    yield start
    for process in started:
        process.stop()


async def test_a_failed_race_is_stored_failed_and_the_next_collection_clears_it(
    runtime: Runtime,
    job_queue: JobQueue,
    replay: httpx.AsyncClient,
    settings: Settings,
    gql_session: AsyncClientSession,
) -> None:
    day, meet = "20250525", 3
    await forget_day(runtime, day, meet)
    # Every attempt at the first race answers 500; the race after it is served.
    await replay.post(
        "/_admin/faults",
        json={"kind": "http_500", "count": settings.kra_max_attempts,
              "endpoint": endpoints.RACE_DETAIL},
    )  # fmt: skip
    first = await run_to_end(
        runtime,
        job_queue,
        JobKind.COLLECTION,
        collect(day, meet, race_numbers=[1, 2], enrich=False),
    )
    assert first.status == JobStatus.PARTIAL
    assert result_of(first)["raceIds"] == [f"race_{meet}_{day}_2"]

    partial = await day_status(gql_session, day, meet)
    failed = await race_state(gql_session, f"race_{meet}_{day}_1")
    assert partial["status"] == "PARTIAL"
    assert partial["failedRaces"] == [1]
    assert (partial["total"], partial["collected"]) == (2, 1)
    assert failed["collectionStatus"] == "FAILED"
    assert "500" in failed["collectionError"]

    # The next collection of the day, every race of it, fetches the failed one again.
    second = await run_to_end(
        runtime, job_queue, JobKind.COLLECTION, collect(day, meet, enrich=False)
    )
    races = len(list((FIXTURES / "API214_1" / day / str(meet)).glob("*.json")))
    assert second.status == JobStatus.COMPLETED, second.error
    assert f"race_{meet}_{day}_1" in result_of(second)["raceIds"]
    healed = await day_status(gql_session, day, meet)
    race = await race_state(gql_session, f"race_{meet}_{day}_1")
    assert healed["failedRaces"] == []
    assert healed["status"] == "RESULTED"
    assert (healed["total"], healed["collected"]) == (races, races)
    assert race == {**race, "collectionStatus": "COLLECTED", "collectionError": None}


async def test_every_race_failing_leaves_the_day_failed(
    runtime: Runtime, job_queue: JobQueue, replay: httpx.AsyncClient,
    gql_session: AsyncClientSession,
) -> None:  # fmt: skip
    day, meet = "20250523", 3
    await forget_day(runtime, day, meet)
    await replay.post("/_admin/faults", json={"kind": "garbage", "count": 1000,
                                              "endpoint": endpoints.RACE_DETAIL})  # fmt: skip
    job = await run_to_end(
        runtime, job_queue, JobKind.COLLECTION, collect(day, meet, race_numbers=[3], enrich=False)
    )
    await replay.delete("/_admin/faults")
    status = await day_status(gql_session, day, meet)
    race = await race_state(gql_session, f"race_{meet}_{day}_3")

    assert job.status == JobStatus.FAILED
    assert status["status"] == "FAILED"
    assert status["failedRaces"] == [3]
    assert race["collectionStatus"] == "FAILED"
    assert race["collectionError"]

    again = await run_to_end(
        runtime, job_queue, JobKind.COLLECTION, collect(day, meet, race_numbers=[3], enrich=False)
    )
    assert again.status == JobStatus.COMPLETED, again.error
    assert (await day_status(gql_session, day, meet))["failedRaces"] == []

    # A race number the API does not know is not counted as a race of the day.
    before = await day_status(gql_session, day, meet)
    unknown = await run_to_end(
        runtime, job_queue, JobKind.COLLECTION, collect(day, meet, race_numbers=[20], enrich=False)
    )
    assert result_of(unknown)["missingRaceNumbers"] == [20]
    assert await day_status(gql_session, day, meet) == before


async def test_a_day_shows_collecting_while_its_job_is_queued_or_running(
    runtime: Runtime,
    private_queue: tuple[Settings, JobQueue],
    start_worker: Callable[[Settings], Process],
    replay: httpx.AsyncClient,
    gql_session: AsyncClientSession,
) -> None:
    own, queue = private_queue
    day, meet = "20250523", 2
    job = await submit_job(
        runtime, queue, JobKind.COLLECTION, collect(day, meet, race_numbers=[1, 2, 3], enrich=False)
    )
    queued = await day_status(gql_session, day, meet)
    other_meet = await day_status(gql_session, day, 3)

    # Slow answers keep the job running while the status is read.
    await replay.post("/_admin/latency", json={"ms": 300})
    start_worker(own)
    await wait_job(runtime, job.id, until=lambda j: j.completed_steps >= 1, within_s=30)
    running = await day_status(gql_session, day, meet)
    await replay.post("/_admin/latency", json={"ms": 0})
    final = await wait_job(runtime, job.id, within_s=60)
    done = await day_status(gql_session, day, meet)

    assert queued["status"] == "COLLECTING"
    assert other_meet["status"] != "COLLECTING"
    assert running["status"] == "COLLECTING"
    assert final.status == JobStatus.COMPLETED, final.error
    assert done["status"] == "RESULTED"
    assert done["collected"] == done["total"] >= 3


ENRICH = "mutation E($input: EnrichRacesInput!) { enrichRaces(input: $input) { id } }"


async def test_enriching_only_horses_leaves_the_race_partial(
    runtime: Runtime,
    job_queue: JobQueue,
    replay: httpx.AsyncClient,
    gql_session: AsyncClientSession,
) -> None:
    day, meet = "20250530", 2
    race_id = f"race_{meet}_{day}_3"
    collected = await run_to_end(
        runtime, job_queue, JobKind.COLLECTION, collect(day, meet, race_numbers=[3], enrich=False)
    )
    assert collected.status == JobStatus.COMPLETED, collected.error
    async with runtime.write() as session:
        # Another test may have fetched these jockeys already: make them stale again.
        riders = select(col(Entry.jockey_no)).where(col(Entry.race_id) == race_id)
        await session.execute(
            update(Jockey).where(col(Jockey.jockey_no).in_(riders)).values(details_fetched_at=None)
        )

    async def enrich(kinds: list[str]) -> None:
        variables = {"input": {"raceIds": [race_id], "kinds": kinds}}
        job = await gql_session.execute(GraphQLRequest(ENRICH, variable_values=variables))
        final = await wait_job(runtime, job["enrichRaces"]["id"], within_s=60)
        assert final.status == JobStatus.COMPLETED, final.error

    await enrich(["HORSE"])
    horses_only = await race_state(gql_session, race_id)
    await enrich(["JOCKEY", "TRAINER"])
    every_kind = await race_state(gql_session, race_id)

    assert horses_only["enrichmentStatus"] == "PARTIAL"
    assert every_kind["enrichmentStatus"] == "ENRICHED"


def withdrawn_gates(day: str, meet: int, number: int) -> set[int]:
    """Gates the recorded result codes as not started (93-95, no odds)."""
    path = FIXTURES / "API214_1" / day / str(meet) / f"{number}.json"
    items = json.loads(path.read_text(encoding="utf-8"))["response"]["body"]["items"]["item"]
    return {
        int(item["chulNo"])
        for item in items
        if int(item["ord"]) in {93, 94, 95} and not item.get("winOdds")
    }


PROMPTS = "{ prompts { id predictor active parameters } }"
PREDICT = "mutation P($input: PredictRaceInput!) { predictRace(input: $input) { predicted } }"
ENTRIES = "query R($id: ID!) { race(id: $id) { entries { gateNumber scratched } } }"


async def test_a_runner_withdrawn_before_the_race_is_scratched_and_never_predicted(
    runtime: Runtime,
    job_queue: JobQueue,
    replay: httpx.AsyncClient,
    gql_session: AsyncClientSession,
) -> None:
    day, meet, number = "20250518", 1, 5
    race_id = f"race_{meet}_{day}_{number}"
    withdrawn = withdrawn_gates(day, meet, number)
    assert len(withdrawn) == 2, "the recorded race has two withdrawn runners"
    # Before the race: the card codes nobody as withdrawn, only the day's scratchings do.
    await replay.post("/_admin/hold", json={"date": day, "meet": meet, "race_number": number})
    cards = await run_to_end(
        runtime,
        job_queue,
        JobKind.COLLECTION,
        collect(day, meet, race_numbers=[number], enrich=False, with_results=False),
    )
    assert cards.status == JobStatus.COMPLETED, cards.error
    stats = (await replay.get("/_admin/stats")).json()
    assert stats["calls"].get(endpoints.SCRATCHINGS)

    found = await gql_session.execute(GraphQLRequest(ENTRIES, variable_values={"id": race_id}))
    flags = {e["gateNumber"]: e["scratched"] for e in found["race"]["entries"]}
    assert {gate for gate, scratched in flags.items() if scratched} == withdrawn

    prompts = (await gql_session.execute(GraphQLRequest(PROMPTS)))["prompts"]
    form = next(
        p for p in sorted(prompts, key=lambda p: not p["active"]) if p["predictor"] == "FORM"
    )
    # Blind to withdrawals, the same weights would pick a withdrawn runner.
    async with runtime.sessions() as session:
        card = await build_card(session, race_id, use_final_odds=False)
    blind = replace(card, runners=tuple(replace(r, scratched=False) for r in card.runners))
    assert set(FormPredictor().answer(blind, form["parameters"]).picks) & withdrawn

    variables = {"input": {"raceId": race_id, "promptId": form["id"]}}
    predicted = await gql_session.execute(GraphQLRequest(PREDICT, variable_values=variables))
    picks = predicted["predictRace"]["predicted"]
    assert len(picks) == 3
    assert not set(picks) & withdrawn

    # The result codes them too; the race is left as the other tests find it: resulted.
    await replay.post("/_admin/release", json={"date": day, "meet": meet, "race_number": number})
    resulted = await run_to_end(
        runtime,
        job_queue,
        JobKind.COLLECTION,
        collect(day, meet, race_numbers=[number], enrich=False),
    )
    assert resulted.status == JobStatus.COMPLETED, resulted.error
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(col(Entry.gate_number)).where(
                col(Entry.race_id) == race_id, col(Entry.scratched)
            )
        )
        assert set(rows.all()) == withdrawn
