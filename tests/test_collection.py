"""Collection jobs end to end: replay server over HTTP, a real worker, real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql import GraphQLRequest, gql
from gql.client import AsyncClientSession
from sqlalchemy import func, select
from sqlmodel import col

from kra_graphql.collection.params import CollectParams, ResultsParams
from kra_graphql.config import Settings
from kra_graphql.jobs.models import JobKind, JobLog, JobStatus
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.races.models import Entry, Horse, Jockey, Race, Trainer
from kra_graphql.runtime import Runtime
from tests.conftest import FIXTURES, settings_env
from tests.jobs_support import result_of, run_to_end
from tests.support import CLI, ROOT

pytestmark = pytest.mark.usefixtures("worker_process")


def fixture_items(path: Path) -> list[dict[str, Any]]:
    item = json.loads(path.read_text(encoding="utf-8"))["response"]["body"]["items"]["item"]
    return item if isinstance(item, list) else [item]


def fixture_day(day: str, meet: int) -> dict[int, list[dict[str, Any]]]:
    folder = FIXTURES / "API214_1" / day / str(meet)
    return {int(path.stem): fixture_items(path) for path in folder.glob("*.json")}


def finish_order(items: list[dict[str, Any]]) -> list[int]:
    placed = [item for item in items if 0 < int(item["ord"]) < 90]
    return [
        int(item["chulNo"]) for item in sorted(placed, key=lambda i: (int(i["ord"]), i["chulNo"]))
    ]


async def stored_entries(runtime: Runtime, race_id: str) -> list[Entry]:
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(Entry).where(col(Entry.race_id) == race_id).order_by(col(Entry.gate_number))
        )
        return list(rows.all())


async def row_counts(runtime: Runtime) -> dict[str, int]:
    counts = {}
    async with runtime.sessions() as session:
        for model in (Race, Entry, Horse, Jockey, Trainer):
            counts[model.__name__] = (
                await session.scalar(select(func.count()).select_from(model)) or 0
            )
    return counts


def collect(day: str, meet: int, **options: Any) -> dict[str, Any]:
    params = CollectParams(
        race_date=date(int(day[:4]), int(day[4:6]), int(day[6:])), meet=meet, **options
    )
    return params.to_json()


@pytest.mark.parametrize(("day", "meet"), [("20250503", 1), ("20250503", 2), ("20250504", 3)])
async def test_a_full_day_lands_as_recorded(
    runtime: Runtime, job_queue: JobQueue, replay: httpx.AsyncClient, day: str, meet: int
) -> None:
    expected = fixture_day(day, meet)
    job = await run_to_end(runtime, job_queue, JobKind.COLLECTION, collect(day, meet))

    assert job.status == JobStatus.COMPLETED, job.error
    assert job.progress == 100
    assert job.completed_steps == job.total_steps == 2 * len(expected)
    assert sorted(result_of(job)["raceIds"]) == sorted(f"race_{meet}_{day}_{n}" for n in expected)
    for number, items in expected.items():
        entries = await stored_entries(runtime, f"race_{meet}_{day}_{number}")
        assert [e.gate_number for e in entries] == sorted(int(i["chulNo"]) for i in items)
        names = {int(i["chulNo"]): re.sub(r"^\[[^]]+\]", "", i["hrName"]) for i in items}
        assert {e.gate_number: e.horse_name for e in entries} == names
        placed = sorted(
            (e for e in entries if e.finish_position),
            key=lambda e: (e.finish_position, e.gate_number),
        )
        assert [e.gate_number for e in placed] == finish_order(items)


async def test_collection_status_over_graphql(
    runtime: Runtime,
    job_queue: JobQueue,
    replay: httpx.AsyncClient,
    gql_session: AsyncClientSession,
) -> None:
    query = gql("query S($d: String!, $m: Int!) { collectionStatus(date: $d, meet: $m) "
                "{ date meet total collected enriched resulted status } }")  # fmt: skip
    before = await gql_session.execute(
        GraphQLRequest(query, variable_values={"d": "2025-05-02", "m": 3})
    )
    await run_to_end(runtime, job_queue, JobKind.COLLECTION, collect("20250502", 3))
    after = await gql_session.execute(
        GraphQLRequest(query, variable_values={"d": "20250502", "m": 3})
    )

    races = len(fixture_day("20250502", 3))
    assert before["collectionStatus"]["status"] == "NOT_COLLECTED"
    assert before["collectionStatus"]["total"] == 0
    assert after["collectionStatus"] == {
        "date": "20250502", "meet": 3, "total": races, "collected": races,
        "enriched": races, "resulted": races, "status": "RESULTED",
    }  # fmt: skip


async def test_running_the_same_day_twice_changes_nothing(
    runtime: Runtime, job_queue: JobQueue, replay: httpx.AsyncClient
) -> None:
    first = await run_to_end(runtime, job_queue, JobKind.COLLECTION, collect("20250510", 1))
    counts = await row_counts(runtime)
    before = [(e.race_id, e.gate_number, e.horse_no, e.finish_position, e.win_odds)
              for e in await stored_entries(runtime, "race_1_20250510_3")]  # fmt: skip
    second = await run_to_end(runtime, job_queue, JobKind.COLLECTION, collect("20250510", 1))
    after = [(e.race_id, e.gate_number, e.horse_no, e.finish_position, e.win_odds)
             for e in await stored_entries(runtime, "race_1_20250510_3")]  # fmt: skip

    assert first.status == second.status == JobStatus.COMPLETED
    assert await row_counts(runtime) == counts
    assert before == after
    # Details fetched by the first run are fresh: the second fetches none.
    assert result_of(first)["enrichedEntities"] > 0
    assert result_of(second)["enrichedEntities"] == 0


async def test_card_before_the_race_then_its_result(
    runtime: Runtime, job_queue: JobQueue, replay: httpx.AsyncClient
) -> None:
    await replay.post("/_admin/hold", json={"date": "20250517", "meet": 2, "race_number": 1})
    card = await run_to_end(
        runtime, job_queue, JobKind.COLLECTION, collect("20250517", 2, race_numbers=[1])
    )
    entries = await stored_entries(runtime, "race_2_20250517_1")
    async with runtime.sessions() as session:
        race = await session.get(Race, "race_2_20250517_1")
    assert card.status == JobStatus.COMPLETED
    assert race is not None
    assert race.result_status == "PENDING"
    assert entries
    assert all(e.finish_position is None and e.finish_time is None for e in entries)

    await replay.post("/_admin/release", json={"date": "20250517", "meet": 2, "race_number": 1})
    results = await run_to_end(
        runtime,
        job_queue,
        JobKind.RESULTS,
        ResultsParams(race_date=date(2025, 5, 17), meet=2, race_number=1).to_json(),
    )
    entries = await stored_entries(runtime, "race_2_20250517_1")
    assert results.status == JobStatus.COMPLETED
    assert result_of(results)["resulted"] == ["race_2_20250517_1"]
    placed = sorted(
        (e for e in entries if e.finish_position), key=lambda e: (e.finish_position, e.gate_number)
    )
    assert [e.gate_number for e in placed] == finish_order(fixture_day("20250517", 2)[1])


@pytest.mark.parametrize("fault", ["http_500", "http_429", "garbage", "slow", "result_code"])
async def test_transient_faults_are_retried_and_the_job_completes(
    runtime: Runtime, job_queue: JobQueue, replay: httpx.AsyncClient, fault: str
) -> None:
    spec: dict[str, Any] = {"kind": fault, "count": 2, "endpoint": "API214_1/RaceDetailResult_1"}
    if fault == "result_code":
        spec |= {"code": "99"}
    if fault == "http_429":
        spec |= {"retry_after": 0}
    queued = await replay.post("/_admin/faults", json=spec)
    assert queued.status_code == 200, queued.text

    job = await run_to_end(
        runtime,
        job_queue,
        JobKind.COLLECTION,
        collect("20250511", 3, race_numbers=[1, 2], enrich=False),
    )
    stats = (await replay.get("/_admin/stats")).json()
    assert job.status == JobStatus.COMPLETED, job.error
    assert result_of(job)["raceIds"] == ["race_3_20250511_1", "race_3_20250511_2"]
    assert stats["queued_faults"] == 0, "the injected faults were never hit"


async def test_an_invalid_key_fails_the_job_at_once(
    runtime: Runtime, job_queue: JobQueue, replay: httpx.AsyncClient
) -> None:
    await replay.post("/_admin/faults", json={"kind": "result_code", "code": "30", "count": 50})
    job = await run_to_end(runtime, job_queue, JobKind.COLLECTION, collect("20250516", 2))
    assert job.status == JobStatus.FAILED
    assert job.retry_count == 0
    assert "30" in (job.error or "")
    assert "serviceKey=" not in (job.error or "")


async def test_a_race_that_keeps_failing_makes_the_job_partial(
    runtime: Runtime, job_queue: JobQueue, replay: httpx.AsyncClient, settings: Settings
) -> None:
    # Exactly one race's worth of attempts fails; the races after it succeed.
    await replay.post(
        "/_admin/faults",
        json={"kind": "http_500", "count": settings.kra_max_attempts,
              "endpoint": "API214_1/RaceDetailResult_1"},
    )  # fmt: skip
    job = await run_to_end(
        runtime,
        job_queue,
        JobKind.COLLECTION,
        collect("20250516", 3, race_numbers=[1, 2, 3], enrich=False),
    )
    assert job.status == JobStatus.PARTIAL
    assert [f["raceId"] for f in result_of(job)["failures"]] == ["race_3_20250516_1"]
    assert result_of(job)["raceIds"] == ["race_3_20250516_2", "race_3_20250516_3"]
    async with runtime.sessions() as session:
        warnings = await session.scalars(
            select(col(JobLog.message)).where(
                col(JobLog.job_id) == job.id, col(JobLog.level) == "WARNING"
            )
        )
        assert any("race 1 failed" in message for message in warnings.all())


def run_cli(args: list[str], settings: Settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


async def test_import_json_is_idempotent(runtime: Runtime, settings: Settings) -> None:
    folder = FIXTURES / "API214_1" / "20250524" / "1"
    runs = [
        await asyncio.to_thread(run_cli, ["import-json", str(folder)], settings) for _ in range(2)
    ]
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr
    async with runtime.sessions() as session:
        races = await session.scalar(
            select(func.count())
            .select_from(Race)
            .where(col(Race.race_date) == date(2025, 5, 24), col(Race.meet) == 1)
        )
        entries = await session.scalar(
            select(func.count())
            .select_from(Entry)
            .where(col(Entry.race_id).like("race_1_20250524_%"))
        )
    files = list(folder.glob("*.json"))
    assert races == len(files)
    assert entries == sum(len(fixture_items(path)) for path in files)
    assert "race(s) imported" in runs[1].stderr
