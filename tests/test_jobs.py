"""The job layer on real ARQ workers: cancellation, crashes, retries, events, rate limit."""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col

from kra_graphql.collection.params import CollectParams
from kra_graphql.config import Settings
from kra_graphql.jobs.events import JobEvent, JobEventType, events_channel
from kra_graphql.jobs.models import Job, JobKind, JobStatus
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.jobs.service import cancel_job, retry_job, submit_job
from kra_graphql.races.models import Entry, Race
from kra_graphql.runtime import Runtime
from tests.conftest import settings_env
from tests.jobs_support import result_of, run_to_end, wait_job
from tests.support import Process
from workers import tasks
from workers.settings import create_worker

WorkerFactory = Callable[..., Process]


def collect(day: date, meet: int, **options: Any) -> dict[str, Any]:
    return CollectParams(race_date=day, meet=meet, **options).to_json()


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[WorkerFactory]:
    started: list[Process] = []

    def start(settings: Settings, **overrides: Any) -> Process:
        env = settings_env(settings.model_copy(update=overrides))
        process = Process(["worker"], env, tmp_path / f"worker-{len(started)}.log")
        started.append(process)
        process.wait_for_output("worker.started")
        return process

    yield start
    for process in started:
        process.stop()


async def test_cancel_stops_a_running_job_within_one_step(
    runtime: Runtime,
    private_queue: tuple[Settings, JobQueue],
    start_worker: WorkerFactory,
    replay: httpx.AsyncClient,
) -> None:
    # max_jobs=1 is where ARQ's own abort is not seen while the job runs: ours must be.
    own, queue = private_queue
    start_worker(own, worker_max_jobs=1)
    await replay.post("/_admin/latency", json={"ms": 150})
    job = await submit_job(runtime, queue, JobKind.COLLECTION, collect(date(2025, 5, 18), 1))
    await wait_job(runtime, job.id, until=lambda j: j.completed_steps >= 2, within_s=30)

    await cancel_job(runtime, queue, job.id)
    at_cancel = (await wait_job(runtime, job.id, until=lambda j: True)).completed_steps
    final = await wait_job(runtime, job.id, within_s=30)

    assert final.status == JobStatus.CANCELLED
    assert final.completed_steps <= at_cancel + 1
    assert final.completed_steps < (final.total_steps or 0)


async def test_a_queued_job_cancelled_never_runs(
    runtime: Runtime, private_queue: tuple[Settings, JobQueue], start_worker: WorkerFactory
) -> None:
    own, queue = private_queue
    job = await submit_job(runtime, queue, JobKind.COLLECTION, collect(date(2025, 1, 3), 2))
    cancelled = await cancel_job(runtime, queue, job.id)
    start_worker(own)
    await asyncio.sleep(1.5)
    final = await wait_job(runtime, job.id)
    assert cancelled.status == JobStatus.CANCELLED
    assert final.status == JobStatus.CANCELLED
    assert final.started_at is None


async def test_a_killed_worker_loses_no_job_and_writes_no_duplicates(
    runtime: Runtime,
    private_queue: tuple[Settings, JobQueue],
    start_worker: WorkerFactory,
    replay: httpx.AsyncClient,
) -> None:
    own, queue = private_queue
    day = date(2025, 5, 25)
    first = start_worker(own)
    await replay.post("/_admin/latency", json={"ms": 100})
    job = await submit_job(runtime, queue, JobKind.COLLECTION, collect(day, 1))
    await wait_job(runtime, job.id, until=lambda j: j.completed_steps >= 3, within_s=30)
    first.stop(signal.SIGKILL)
    killed_at = (await wait_job(runtime, job.id, until=lambda j: True)).completed_steps
    await replay.post("/_admin/latency", json={"ms": 0})

    start_worker(own)
    final = await wait_job(runtime, job.id, within_s=60)

    assert killed_at < (final.total_steps or 0)
    assert final.status == JobStatus.COMPLETED, final.error
    async with runtime.sessions() as session:
        races = await session.scalar(
            select(func.count())
            .select_from(Race)
            .where(col(Race.race_date) == day, col(Race.meet) == 1)
        )
        entries = (
            await session.execute(
                select(col(Entry.race_id), col(Entry.gate_number), func.count())
                .where(col(Entry.race_id).like("race_1_20250525_%"))
                .group_by(col(Entry.race_id), col(Entry.gate_number))
            )
        ).all()
    assert races == len(result_of(final)["raceIds"]) == 11
    assert entries
    assert {count for _, _, count in entries} == {1}


async def test_transient_job_failure_is_retried_then_fails(
    runtime: Runtime, job_queue: JobQueue, replay: httpx.AsyncClient, settings: Settings,
    worker_process: Process,
) -> None:  # fmt: skip
    # Every call fails: the client gives up, then the job layer retries the whole job.
    await replay.post("/_admin/faults", json={"kind": "http_503", "count": 1000})
    job = await run_to_end(
        runtime, job_queue, JobKind.COLLECTION, collect(date(2025, 1, 4), 1, race_numbers=[1])
    )
    assert job.status == JobStatus.FAILED
    assert job.retry_count == settings.job_max_retries
    assert "503" in (job.error or "")


async def test_retry_runs_a_finished_job_again_under_a_fresh_arq_id(
    runtime: Runtime, job_queue: JobQueue, replay: httpx.AsyncClient, worker_process: Process
) -> None:
    job = await run_to_end(
        runtime, job_queue, JobKind.COLLECTION, collect(date(2025, 1, 5), 3, race_numbers=[1])
    )
    # ARQ refuses an id whose result it still keeps: the reason attempts get their own ids.
    assert await job_queue.enqueue(job.id, job.retry_count) is False

    await cancel_job(runtime, job_queue, job.id)  # a finished job stays as it is
    with pytest.raises(Exception, match="cannot be retried"):
        await retry_job(runtime, job_queue, job.id)

    async with runtime.sessions() as session, session.begin():
        row = await session.get(Job, job.id)
        assert row is not None
        row.status = JobStatus.FAILED
    again = await retry_job(runtime, job_queue, job.id)
    final = await wait_job(runtime, job.id)
    assert again.retry_count == 1
    assert final.status == JobStatus.COMPLETED
    assert result_of(final)["raceIds"] == ["race_3_20250105_1"]


async def test_events_arrive_in_order_and_end_with_the_terminal_status(
    runtime: Runtime, job_queue: JobQueue, settings: Settings, worker_process: Process,
    replay: httpx.AsyncClient,
) -> None:  # fmt: skip
    async with runtime.redis.pubsub() as pubsub:
        await pubsub.subscribe(events_channel(settings.redis_prefix))
        job = await submit_job(
            runtime,
            job_queue,
            JobKind.COLLECTION,
            collect(date(2025, 1, 10), 2, race_numbers=[1, 2]),
        )
        events: list[JobEvent] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if message is None:
                continue
            event = JobEvent.decode(message["data"])
            if event.job_id == job.id:
                events.append(event)
                if event.type is JobEventType.STATUS and JobStatus(event.status).is_terminal:
                    break
    sequences = [event.sequence for event in events]
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))
    assert events[-1].status == JobStatus.COMPLETED
    assert events[-1].progress == 100
    progress = [event.progress for event in events]
    assert progress == sorted(progress)
    assert any(event.type is JobEventType.LOG for event in events)
    midway = [e for e in events if e.status == JobStatus.PROCESSING and e.completed_steps]
    assert midway
    assert all(
        e.estimated_completion is not None and e.estimated_completion >= e.at for e in midway
    )


async def test_calls_stay_within_the_limit_across_two_workers(
    runtime: Runtime,
    private_queue: tuple[Settings, JobQueue],
    start_worker: WorkerFactory,
    replay: httpx.AsyncClient,
) -> None:
    limit = 120  # one call every 0.5 s, shared by both workers
    own, queue = private_queue
    for _ in range(2):
        start_worker(own, kra_rate_limit_per_min=limit)
    jobs = [
        await submit_job(runtime, queue, JobKind.COLLECTION, collect(day, meet))
        for day, meet in ((date(2025, 1, 11), 1), (date(2025, 1, 12), 1))
    ]
    both_running = lambda j: j.status == JobStatus.PROCESSING  # noqa: E731
    for job in jobs:
        await wait_job(runtime, job.id, until=both_running, within_s=30)
    await asyncio.sleep(6)
    times = sorted((await replay.get("/_admin/stats")).json()["recent_call_times"])
    for job in jobs:
        await cancel_job(runtime, queue, job.id)

    window = [t for t in times if t >= times[-1] - 5]
    interval = 60 / limit
    # GCRA spaces calls evenly: any span of n calls lasts at least (n - 1) intervals.
    gaps = [b - a for a, b in itertools.pairwise(window)]
    assert len(window) >= 8, "the budget was not kept busy"
    assert len(window) <= 5 / interval + 2
    assert min(gaps) >= interval * 0.8


async def test_daily_collection_submits_ordinary_jobs(
    runtime: Runtime, job_queue: JobQueue
) -> None:
    job_ids = await tasks.collect_yesterday({"runtime": runtime, "queue": job_queue})
    async with runtime.sessions() as session:
        jobs = (await session.scalars(select(Job).where(col(Job.id).in_(job_ids)))).all()
    assert sorted(job.parameters["meet"] for job in jobs) == [1, 2, 3]
    assert {job.kind for job in jobs} == {JobKind.COLLECTION}
    assert {job.requested_by for job in jobs} == {"schedule"}
    for job_id in job_ids:
        await cancel_job(runtime, job_queue, job_id)


async def test_the_worker_schedules_the_daily_collection_at_six_seoul_time(
    settings: Settings,
) -> None:
    worker = create_worker(settings.model_copy(update={"daily_collection_enabled": True}))
    daily = [job for job in worker.cron_jobs if job.name.endswith("daily-collection")]
    assert len(daily) == 1
    assert daily[0].hour == {6}
    assert worker.timezone is not None
    assert worker.timezone.utcoffset(None) == timedelta(hours=9)
    await worker.close()
