"""improvePrompt on recorded January races: deterministic, idempotent, honest about scores."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlmodel import col

from kra_graphql.jobs.models import JobKind, JobStatus
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.jobs.service import retry_job
from kra_graphql.prediction.improvement import ImproveParams, _next_patch, _store_candidate
from kra_graphql.prediction.models import Prompt
from kra_graphql.prediction.service import get_prompt
from kra_graphql.prediction.tuners import Candidate
from kra_graphql.races.dates import parse_race_date
from kra_graphql.runtime import Runtime
from tests.jobs_support import result_of, run_to_end, wait_job

pytestmark = pytest.mark.usefixtures("worker_process")


def improve(seed: int) -> dict[str, Any]:
    return ImproveParams(
        prompt_id="form-weights-v1.0",
        iterations=4,
        sample_size=20,
        seed=seed,
        date_from=parse_race_date("20250101", field="d"),
        date_to=parse_race_date("20250112", field="d"),
    ).to_json()


async def candidates_of(runtime: Runtime, job_id: str) -> list[Prompt]:
    async with runtime.sessions() as session:
        rows = (
            await session.scalars(select(Prompt).where(col(Prompt.name) == "form-weights"))
        ).all()
    mine = [row for row in rows if (row.parameters.get("improvement") or {}).get("job") == job_id]
    return sorted(mine, key=lambda row: row.parameters["improvement"]["iteration"])


async def test_improvement_keeps_every_candidate_and_names_the_champion(
    runtime: Runtime, job_queue: JobQueue, january: None
) -> None:
    first = await run_to_end(runtime, job_queue, JobKind.PROMPT_IMPROVEMENT, improve(seed=11))
    second = await run_to_end(runtime, job_queue, JobKind.PROMPT_IMPROVEMENT, improve(seed=11))
    assert first.status == second.status == JobStatus.COMPLETED, first.error
    report, again = result_of(first), result_of(second)

    candidates = await candidates_of(runtime, first.id)
    assert [c.parameters["improvement"]["iteration"] for c in candidates] == [1, 2, 3, 4]
    assert report["laterRaces"] >= 5
    assert report["earlierRaces"] >= 10
    # The chain of parents follows promotions only.
    champion = "form-weights-v1.0"
    for candidate in candidates:
        assert candidate.parent_id == champion
        if candidate.parameters["improvement"]["promoted"]:
            champion = candidate.id
    assert report["championId"] == champion
    if champion != "form-weights-v1.0":
        assert report["championLater"]["averageCorrect"] > report["startingLater"]["averageCorrect"]
    else:
        assert report["championLater"] == report["startingLater"]
    # Same seed, same data: the same search.
    strip = [{k: v for k, v in step.items() if k != "promptId"} for step in report["iterations"]]
    strip_again = [{k: v for k, v in s.items() if k != "promptId"} for s in again["iterations"]]
    assert strip == strip_again
    mine = [c.parameters["weights"] for c in candidates]
    theirs = [c.parameters["weights"] for c in await candidates_of(runtime, second.id)]
    assert mine == theirs


async def test_running_the_job_again_adds_no_prompt(
    runtime: Runtime, job_queue: JobQueue, january: None
) -> None:
    job = await run_to_end(runtime, job_queue, JobKind.PROMPT_IMPROVEMENT, improve(seed=5))
    before = [c.id for c in await candidates_of(runtime, job.id)]
    async with runtime.sessions() as session, session.begin():
        row = await session.get(type(job), job.id)
        assert row is not None
        row.status = JobStatus.FAILED
    await retry_job(runtime, job_queue, job.id)
    rerun = await wait_job(runtime, job.id)
    assert rerun.status == JobStatus.COMPLETED
    assert [c.id for c in await candidates_of(runtime, job.id)] == before
    assert result_of(rerun)["championId"] == result_of(job)["championId"]


async def test_concurrent_candidates_of_one_prompt_get_distinct_versions(
    runtime: Runtime,
) -> None:
    """Two improvements of one prompt store a candidate at once, both for the same next
    version: the second moves to the version after instead of failing its job."""
    base = await get_prompt(runtime, "form-weights-v1.0")
    patch = await _next_patch(runtime, base)
    candidate = Candidate(text=base.text, parameters=dict(base.parameters))
    stored = await asyncio.gather(
        *(
            _store_candidate(runtime, base, base, patch, candidate, {"job": job, "iteration": 1})
            for job in ("job_concurrent_a", "job_concurrent_b")
        )
    )
    try:
        versions = sorted(prompt.version for prompt in stored)
        assert versions == [f"v1.0.{patch}", f"v1.0.{patch + 1}"]
        async with runtime.sessions() as session:
            found = (
                await session.scalars(
                    select(Prompt).where(col(Prompt.id).in_([p.id for p in stored]))
                )
            ).all()
        assert {p.parameters["improvement"]["job"] for p in found} == {
            "job_concurrent_a",
            "job_concurrent_b",
        }
    finally:
        async with runtime.write() as session:
            await session.execute(delete(Prompt).where(col(Prompt.id).in_([p.id for p in stored])))
