"""Season backfill end to end: the mutation over HTTP, its progress over WebSocket, a real
worker collecting from the replay server into PostgreSQL, and the command-line client."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportQueryError
from sqlalchemy import delete, func, select
from sqlmodel import col

from kra_graphql.collection.backfill import MAX_BACKFILL_DAYS
from kra_graphql.collection.params import CollectParams
from kra_graphql.config import Settings
from kra_graphql.jobs import children
from kra_graphql.jobs.children import ChildSpec, StillRunning
from kra_graphql.jobs.failures import is_transient
from kra_graphql.jobs.models import Job, JobKind, JobStatus
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.jobs.reporter import JobCancelled
from kra_graphql.jobs.service import cancel_job, submit_job
from kra_graphql.races.models import Entry, Horse, Jockey, Race, Trainer
from kra_graphql.runtime import Runtime
from tests.access_support import ws_transport
from tests.clients_support import Tmux, ensure_test_tools
from tests.conftest import API_KEY, FIXTURES, settings_env
from tests.jobs_support import load_job, result_of, wait_job
from tests.support import CLI, ROOT, Process, child_env

pytestmark = pytest.mark.usefixtures("worker_process")

BACKFILL = """
mutation Backfill($input: BackfillRacesInput!) {
  backfillRaces(input: $input) { id kind status progress parameters }
}
"""
PROGRESS = """
subscription Progress($id: ID!) {
  jobProgress(id: $id) {
    sequence type
    job { id status progress totalSteps completedSteps result }
  }
}
"""
JOB = """
query Job($id: ID!) {
  job(id: $id) {
    id status progress result
    children { id kind status parameters parent { id } }
  }
}
"""
CANCEL = "mutation Cancel($id: ID!) { cancelJob(id: $id) { id status } }"
RETRY = "mutation Retry($id: ID!) { retryJob(id: $id) { id status } }"


def recorded(first: str, last: str) -> dict[tuple[str, int], list[int]]:
    """(day, meet) -> race numbers of the recorded races between two days."""
    found: dict[tuple[str, int], list[int]] = {}
    for day_dir in sorted((FIXTURES / "API214_1").iterdir()):
        if first <= day_dir.name <= last:
            for meet_dir in sorted(day_dir.iterdir()):
                numbers = sorted(int(path.stem) for path in meet_dir.glob("*.json"))
                found[(day_dir.name, int(meet_dir.name))] = numbers
    return found


def recorded_entries(day: str, meet: int, number: int) -> int:
    path = FIXTURES / "API214_1" / day / str(meet) / f"{number}.json"
    items = json.loads(path.read_text(encoding="utf-8"))["response"]["body"]["items"]["item"]
    return len(items if isinstance(items, list) else [items])


async def backfill(session: AsyncClientSession, **input_: Any) -> dict[str, Any]:
    answer = await session.execute(GraphQLRequest(BACKFILL, variable_values={"input": input_}))
    job: dict[str, Any] = answer["backfillRaces"]
    return job


async def job_tree(session: AsyncClientSession, job_id: str) -> dict[str, Any]:
    answer = await session.execute(GraphQLRequest(JOB, variable_values={"id": job_id}))
    job: dict[str, Any] = answer["job"]
    return job


async def follow(api_url: str, job_id: str) -> list[dict[str, Any]]:
    async with Client(transport=ws_transport(api_url, API_KEY)) as session:
        request = GraphQLRequest(PROGRESS, variable_values={"id": job_id})
        return [event["jobProgress"] async for event in session.subscribe(request)]


async def stored(runtime: Runtime, first: str, last: str) -> dict[str, int]:
    """Race id -> stored entries, for the races between two days."""
    start = date(int(first[:4]), int(first[4:6]), int(first[6:]))
    end = date(int(last[:4]), int(last[4:6]), int(last[6:]))
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(col(Race.id), func.count(col(Entry.id)))
            .join(Entry, col(Entry.race_id) == col(Race.id), isouter=True)
            .where(col(Race.race_date) >= start, col(Race.race_date) <= end)
            .group_by(col(Race.id))
        )
        return dict(rows.all())


# What a backfill adds, each table by its key; entries go with their races.
ADDED_ROWS = (
    (Job, Job.id),
    (Race, Race.id),
    (Horse, Horse.horse_no),
    (Jockey, Jockey.jockey_no),
    (Trainer, Trainer.trainer_no),
)


async def _keys(runtime: Runtime) -> list[set[str]]:
    async with runtime.sessions() as session:
        return [set((await session.scalars(select(col(key)))).all()) for _, key in ADDED_ROWS]


@pytest.fixture(autouse=True)
async def leave_no_trace(runtime: Runtime, job_queue: JobQueue) -> AsyncIterator[None]:
    """A backfill collects days that other tests collect themselves and count: each test
    here removes the rows it added (its jobs stopped first)."""
    before = await _keys(runtime)
    yield
    added = [now - then for now, then in zip(await _keys(runtime), before, strict=True)]
    jobs = sorted(added[0])
    for job_id in jobs:
        await cancel_job(runtime, job_queue, job_id)
    for job_id in jobs:
        await wait_job(runtime, job_id, within_s=60)
    async with runtime.write() as session:
        await session.execute(
            delete(Job).where(col(Job.id).in_(jobs), col(Job.parent_id).is_not(None))
        )
        for (table, key), keys in zip(ADDED_ROWS, added, strict=True):
            await session.execute(delete(table).where(col(key).in_(keys)))


async def count_jobs(runtime: Runtime, kind: JobKind) -> int:
    async with runtime.sessions() as session:
        return await session.scalar(select(func.count()).where(col(Job.kind) == kind)) or 0


async def test_a_week_lands_every_recorded_race_once_and_running_it_again_adds_nothing(
    api_url: str,
    runtime: Runtime,
    gql_session: AsyncClientSession,
    replay: httpx.AsyncClient,
) -> None:
    first, last = "20250516", "20250522"
    days = recorded(first, last)
    assert len(days) == 6  # every meet has race days in this week
    expected = {
        f"race_{meet}_{day}_{number}": recorded_entries(day, meet, number)
        for (day, meet), numbers in days.items()
        for number in numbers
    }

    job = await backfill(gql_session, dateFrom=first, dateTo="2025-05-22", enrich=False)
    assert (job["kind"], job["status"]) == ("BACKFILL", "QUEUED")
    assert job["parameters"]["meets"] == [1, 2, 3]
    events = await asyncio.wait_for(follow(api_url, job["id"]), 120)

    final = events[-1]["job"]
    assert final["status"] == "COMPLETED", final
    assert final["progress"] == 100
    assert final["completedSteps"] == final["totalSteps"]
    progress = [event["job"]["progress"] for event in events]
    assert progress == sorted(progress)
    assert await stored(runtime, first, last) == expected

    tree = await job_tree(gql_session, job["id"])
    made = {(c["parameters"]["date"], c["parameters"]["meet"]) for c in tree["children"]}
    skipped = {(s["date"], s["meet"]) for s in tree["result"]["skipped"]}
    # Days another test collected completely before are skipped; each day is one or the other.
    assert len(made) == len(tree["children"])
    assert made | skipped == set(days)
    assert not made & skipped
    for child in tree["children"]:
        assert child["kind"] == "COLLECTION"
        assert child["status"] == "COMPLETED"
        assert child["parent"] == {"id": job["id"]}
        day, meet = child["parameters"]["date"], child["parameters"]["meet"]
        assert child["parameters"]["raceNumbers"] == days[(day, meet)]
    assert result_of(await load_job(runtime, job["id"]))["failures"] == []

    collections = await count_jobs(runtime, JobKind.COLLECTION)
    again = await backfill(gql_session, dateFrom=first, dateTo=last, enrich=False)
    await asyncio.wait_for(follow(api_url, again["id"]), 60)

    rerun = await job_tree(gql_session, again["id"])
    assert rerun["status"] == "COMPLETED"
    assert rerun["children"] == []
    assert {(s["date"], s["meet"]) for s in rerun["result"]["skipped"]} == set(days)
    assert await count_jobs(runtime, JobKind.COLLECTION) == collections
    assert await stored(runtime, first, last) == expected


async def test_cancelling_a_running_backfill_cancels_its_children_and_a_retry_reuses_them(
    api_url: str,
    runtime: Runtime,
    gql_session: AsyncClientSession,
    replay: httpx.AsyncClient,
) -> None:
    first, last = "20250523", "20250531"
    days = recorded(first, last)
    # Slow answers keep the children running long enough to cancel them midway.
    await replay.post("/_admin/latency", json={"ms": 150})
    job = await backfill(gql_session, dateFrom=first, dateTo=last, enrich=False, force=True)

    def started(parent: Job) -> bool:
        return parent.total_steps is not None and parent.completed_steps > 0

    await wait_job(runtime, job["id"], until=started, within_s=60)
    before = {child.id: child for child in await children.children_of(runtime, job["id"])}
    assert len(before) == len(days)

    await gql_session.execute(GraphQLRequest(CANCEL, variable_values={"id": job["id"]}))
    at_cancel = {child.id: child for child in await children.children_of(runtime, job["id"])}
    # Queued children end at once, with the request.
    assert not [c.id for c in at_cancel.values() if c.status == JobStatus.QUEUED]

    parent = await wait_job(runtime, job["id"], within_s=60)
    assert parent.status == JobStatus.CANCELLED
    ended = await children.children_of(runtime, job["id"])
    assert {child.id for child in ended} == set(before)
    for child in ended:
        assert JobStatus(child.status).is_terminal
        seen = at_cancel[child.id]
        if seen.status == JobStatus.PROCESSING:
            # A running child finishes the step it is in, and starts no other.
            assert child.completed_steps <= seen.completed_steps + 1, child.id
            if child.status != JobStatus.CANCELLED:
                assert child.completed_steps == child.total_steps, child.id
        elif seen.status == JobStatus.CANCELLED:
            assert child.status == JobStatus.CANCELLED
    assert any(child.status == JobStatus.CANCELLED for child in ended)

    await replay.post("/_admin/latency", json={"ms": 0})
    await gql_session.execute(GraphQLRequest(RETRY, variable_values={"id": job["id"]}))
    retried = await wait_job(runtime, job["id"], within_s=120)

    assert retried.status == JobStatus.COMPLETED, retried.error
    assert retried.progress == 100
    after = await children.children_of(runtime, job["id"])
    assert {child.id for child in after} == set(before)
    assert {child.status for child in after} == {JobStatus.COMPLETED}
    assert set(await stored(runtime, first, last)) == {
        f"race_{meet}_{day}_{number}" for (day, meet), numbers in days.items() for number in numbers
    }


async def test_a_backfill_survives_a_killed_worker_with_neither_lost_nor_doubled_children(
    runtime: Runtime,
    private_queue: tuple[Settings, JobQueue],
    replay: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    own, queue = private_queue
    first, last = "20250509", "20250511"
    days = recorded(first, last)
    workers: list[Process] = []

    def worker() -> Process:
        log = tmp_path / f"worker-{len(workers)}.log"
        process = Process(["worker"], settings_env(own), log)
        workers.append(process)
        process.wait_for_output("worker.started")
        return process

    try:
        killed = worker()
        await replay.post("/_admin/latency", json={"ms": 100})
        params = {"dateFrom": first, "dateTo": last, "meets": [1, 2, 3], "enrich": False,
                  "withResults": True, "force": True}  # fmt: skip
        parent = await submit_job(runtime, queue, JobKind.BACKFILL, params, requested_by="test")
        await wait_job(runtime, parent.id, until=lambda j: j.completed_steps >= 5, within_s=60)
        killed.stop(signal.SIGKILL)
        at_kill = await load_job(runtime, parent.id)
        made = {child.id for child in await children.children_of(runtime, parent.id)}
        await replay.post("/_admin/latency", json={"ms": 0})

        worker()
        final = await wait_job(runtime, parent.id, within_s=120)
    finally:
        for process in workers:
            process.stop()

    assert at_kill.status == JobStatus.PROCESSING
    assert at_kill.completed_steps < (at_kill.total_steps or 0)
    assert final.status == JobStatus.COMPLETED, final.error
    assert final.progress == 100
    after = await children.children_of(runtime, parent.id)
    assert {child.id for child in after} == made
    assert len(after) == len(days)
    assert {(c.parameters["date"], c.parameters["meet"]) for c in after} == set(days)
    assert {child.status for child in after} == {JobStatus.COMPLETED}


async def test_children_are_made_once_per_parent_and_key(
    runtime: Runtime, private_queue: tuple[Any, JobQueue]
) -> None:
    # A queue no worker drains: the rows and the queue are all this test looks at.
    _, queue = private_queue
    parent = await submit_job(runtime, queue, JobKind.BACKFILL, {"probe": uuid.uuid4().hex})
    specs = [
        ChildSpec(
            key=f"20250104/{meet}",
            parameters=CollectParams(race_date=date(2025, 1, 4), meet=meet).to_json(),
        )
        for meet in (1, 2)
    ]

    made = await children.spawn(runtime, queue, parent, JobKind.COLLECTION, specs)
    again = await children.spawn(runtime, queue, parent, JobKind.COLLECTION, [*specs, *specs])
    more = ChildSpec(key="20250105/1", parameters=specs[0].parameters)
    third = await children.spawn(runtime, queue, parent, JobKind.COLLECTION, [*specs, more])

    assert len(made) == 2
    assert again == []
    assert third == [children.child_id(parent.id, "20250105/1")]
    rows = await children.children_of(runtime, parent.id)
    assert len(rows) == 3
    assert {row.parent_id for row in rows} == {parent.id}
    assert all([await queue.is_known(row.id, 0) for row in rows])

    # Cancelling the parent cancels its children; a cancelled parent makes no more.
    await cancel_job(runtime, queue, parent.id)
    late = ChildSpec(key="20250105/3", parameters=specs[0].parameters)
    with pytest.raises(JobCancelled):
        await children.spawn(runtime, queue, parent, JobKind.COLLECTION, [late])
    rows = await children.children_of(runtime, parent.id)
    assert len(rows) == 3
    assert {row.status for row in rows} == {JobStatus.CANCELLED}


@pytest.mark.parametrize(
    ("input_", "field"),
    [
        ({"dateFrom": "20240101", "dateTo": "20250204"}, "input.dateTo"),
        ({"dateFrom": "20250105", "dateTo": "20250103"}, "input.dateFrom"),
        ({"dateFrom": "2025-13-01", "dateTo": "20250103"}, "input.dateFrom"),
        ({"dateFrom": "20250101", "dateTo": "20250103", "meets": [4]}, "input.meets"),
        ({"dateFrom": "20250101", "dateTo": "20250103", "meets": []}, "input.meets"),
        ({"dateFrom": "20250101", "dateTo": "20250103", "meets": [1, 1]}, "input.meets"),
    ],
)
async def test_bad_ranges_and_meets_are_refused_naming_the_field(
    runtime: Runtime, gql_session: AsyncClientSession, input_: dict[str, Any], field: str
) -> None:
    jobs_before = await count_jobs(runtime, JobKind.BACKFILL)
    with pytest.raises(TransportQueryError) as raised:
        await backfill(gql_session, **input_)
    errors = raised.value.errors or []
    assert [error["extensions"] for error in errors] == [{"code": "BAD_USER_INPUT", "field": field}]
    assert await count_jobs(runtime, JobKind.BACKFILL) == jobs_before


async def test_the_longest_range_is_accepted(
    runtime: Runtime, gql_session: AsyncClientSession
) -> None:
    # 400 days that end before the first recorded race: nothing to collect.
    last = date(2024, 12, 31)
    first = last - timedelta(days=MAX_BACKFILL_DAYS - 1)
    job = await backfill(
        gql_session, dateFrom=first.isoformat(), dateTo=last.isoformat(), meets=[2]
    )
    done = await wait_job(runtime, job["id"], within_s=60)
    assert done.status == JobStatus.COMPLETED, done.error
    assert result_of(done)["jobs"] == 0


@pytest.fixture
def cli_env(api_url: str, api_key: str) -> dict[str, str]:
    ensure_test_tools()
    return child_env(
        {
            "KRA_GRAPHQL_URL": f"{api_url}/graphql",
            "KRA_GRAPHQL_KEY": api_key,
            "COLUMNS": "200",
            "TERM": "xterm-256color",
        }
    )


async def test_the_cli_follows_a_backfill_with_a_live_bar(
    cli_env: dict[str, str], replay: httpx.AsyncClient
) -> None:
    # Slow answers stretch the children over a few seconds so the screen can be sampled.
    await replay.post("/_admin/latency", json={"ms": 200})
    session = Tmux([*CLI, "backfill", "--from", "20250502", "--to", "20250504", "--meet", "2",
                    "--meet", "3", "--no-enrich", "--force"], cli_env)  # fmt: skip
    seen: list[int] = []

    def record(screen: str) -> bool:
        found = re.findall(r"^PROCESSING\s.*?(\d+)%", screen, re.MULTILINE)
        seen.extend(int(p) for p in found if not seen or int(p) != seen[-1])
        return "EXIT=" in screen

    try:
        screen = session.wait_for(record, timeout=120, every=0.05)
        assert session.exit_code() == 0, screen
    finally:
        session.close()
    assert len(set(seen)) >= 2, f"the bar never advanced: {seen}\n{screen}"
    assert seen == sorted(seen), seen
    lines = [line for line in screen.splitlines() if line.strip()]
    assert re.match(r"COMPLETED job_\w+ \(BACKFILL\) · jobs: 4 · .*failures: 0", lines[-2])
    assert re.match(r"COMPLETED\s+━+ 100%", lines[-3]), screen


def test_the_cli_reports_a_range_too_long_as_a_request_error(cli_env: dict[str, str]) -> None:
    done = subprocess.run(
        [*CLI, "backfill", "--from", "20230101", "--to", "20250101"],
        env=cli_env, capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "BAD_USER_INPUT" in done.stderr
    assert "input.dateTo" in done.stderr


async def test_a_parent_at_the_time_limit_hands_over_as_a_transient_failure(
    runtime: Runtime, private_queue: tuple[Any, JobQueue]
) -> None:
    # Nothing drains this queue: the child stays queued past the deadline.
    _, queue = private_queue
    parent = await submit_job(runtime, queue, JobKind.BACKFILL, {"probe": uuid.uuid4().hex})
    spec = ChildSpec(
        key="20250104/1",
        parameters=CollectParams(race_date=date(2025, 1, 4), meet=1).to_json(),
    )
    [child] = await children.spawn(runtime, queue, parent, JobKind.COLLECTION, [spec])

    with pytest.raises(StillRunning) as raised:
        await children.follow(runtime, queue, parent.id, {child: 22}, deadline=time.monotonic())

    assert is_transient(raised.value)
    shown = await load_job(runtime, parent.id)
    assert (shown.completed_steps, shown.total_steps) == (0, 22)
    assert shown.current_step == "0 of 1 jobs done, 0 running"
