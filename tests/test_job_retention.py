"""Job retention on the test database: backdated rows, the daily task run in process, its
metric read back from the process's Prometheus registry."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY, generate_latest
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kra_graphql.config import Settings
from kra_graphql.db import utcnow
from kra_graphql.jobs.models import Job, JobKind, JobLog, JobStatus, new_job_id
from kra_graphql.jobs.retention import apply_retention
from kra_graphql.prediction.models import Evaluation, Prediction
from kra_graphql.runtime import Runtime
from kra_graphql.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery
from tests.factories import Seeded, remove, seed_races, unused_day
from tests.support import samples
from workers.settings import create_worker

PROMPT = "form-weights-v1.0"
LOG_LINES = 2


@dataclass
class Rows:
    """What one test wrote, by role, to check and then to remove."""

    jobs: dict[str, str] = field(default_factory=dict)
    evaluation: int = 0
    predictions: list[int] = field(default_factory=list)
    deliveries: dict[str, str] = field(default_factory=dict)
    webhook: str = ""
    seeded: Seeded = field(default_factory=Seeded)


async def _job(
    session: AsyncSession,
    status: JobStatus,
    at: datetime,
    *,
    parent: str | None = None,
) -> str:
    job_id = new_job_id()
    await session.execute(
        insert(Job).values(
            id=job_id,
            kind=JobKind.COLLECTION,
            status=status,
            parameters={},
            parent_id=parent,
            created_at=at,
            updated_at=at,
            started_at=at if status != JobStatus.QUEUED else None,
            finished_at=at if JobStatus(status).is_terminal else None,
        )
    )
    for number in range(LOG_LINES):
        await session.execute(insert(JobLog).values(job_id=job_id, message=f"line {number}"))
    return job_id


@pytest.fixture
async def rows(runtime: Runtime) -> AsyncIterator[Rows]:
    now = utcnow()
    old, recent = now - timedelta(days=100), now - timedelta(days=1)
    made = Rows(seeded=await seed_races(runtime, days=[unused_day()], races_per_meet=1))
    race = made.seeded.races[0].id
    async with runtime.sessions() as session, session.begin():
        jobs = made.jobs
        jobs["old"] = await _job(session, JobStatus.COMPLETED, old)
        jobs["old_running"] = await _job(session, JobStatus.PROCESSING, old)
        jobs["recent"] = await _job(session, JobStatus.COMPLETED, recent)
        jobs["old_parent"] = await _job(session, JobStatus.PARTIAL, old)
        jobs["old_child"] = await _job(session, JobStatus.FAILED, old, parent=jobs["old_parent"])
        # A finished old parent whose child has not run yet: the tree stays whole.
        jobs["busy_parent"] = await _job(session, JobStatus.COMPLETED, old)
        jobs["busy_child"] = await _job(session, JobStatus.QUEUED, old, parent=jobs["busy_parent"])
        jobs["old_evaluation"] = await _job(session, JobStatus.COMPLETED, old)
        made.evaluation = (
            await session.scalars(
                insert(Evaluation)
                .values(prompt_id=PROMPT, job_id=jobs["old_evaluation"], race_count=1)
                .returning(col(Evaluation.id))
            )
        ).one() or 0
        runs = [("direct", None), (f"evaluation:{made.evaluation}", made.evaluation)]
        for run_key, evaluation in runs:
            statement = (
                insert(Prediction)
                .values(
                    race_id=race,
                    prompt_id=PROMPT,
                    evaluation_id=evaluation,
                    run_key=run_key,
                    first_pick=1,
                    created_at=old,
                )
                .returning(col(Prediction.id))
            )
            made.predictions.append((await session.scalars(statement)).one() or 0)
        made.webhook = f"webhook_{uuid.uuid4().hex}"
        await session.execute(
            insert(Webhook).values(id=made.webhook, url="https://example.org/", secret="s")
        )
        for role, at in (("old", old), ("recent", recent)):
            delivery = f"delivery_{uuid.uuid4().hex}"
            made.deliveries[role] = delivery
            await session.execute(
                insert(WebhookDelivery).values(
                    id=delivery,
                    webhook_id=made.webhook,
                    job_id=jobs[role],
                    event="JOB_COMPLETED",
                    status="DELIVERED",
                    attempts=1,
                    created_at=at,
                )
            )
            await session.execute(
                insert(WebhookAttempt).values(delivery_id=delivery, attempt=1, status_code=200)
            )
    try:
        yield made
    finally:
        async with runtime.sessions() as session, session.begin():
            await session.execute(
                delete(Prediction).where(col(Prediction.id).in_(made.predictions))
            )
            await session.execute(delete(Evaluation).where(col(Evaluation.id) == made.evaluation))
            await session.execute(delete(Webhook).where(col(Webhook.id) == made.webhook))
            # Children before their parents.
            for role in ("busy_child", "old_child", *made.jobs):
                await session.execute(delete(Job).where(col(Job.id) == made.jobs[role]))
        await remove(runtime, made.seeded)


def _removed() -> dict[str, float]:
    text = generate_latest(REGISTRY).decode()
    return {
        what: samples(text, "kra_retention_deleted_total", what=what)
        for what in ("jobs", "job_logs", "webhook_deliveries")
    }


async def _count(runtime: Runtime, statement: Any) -> int:
    async with runtime.sessions() as session:
        return int(await session.scalar(statement) or 0)


async def test_old_finished_jobs_go_with_their_logs_and_nothing_else(
    runtime: Runtime, rows: Rows
) -> None:
    before = _removed()
    pruned = await apply_retention(runtime)
    after = _removed()

    gone = {"old", "old_parent", "old_child", "old_evaluation"}
    kept = set(rows.jobs) - gone
    assert (pruned.jobs, pruned.logs, pruned.deliveries) == (4, 4 * LOG_LINES, 1)
    assert after == {
        "jobs": before["jobs"] + 4,
        "job_logs": before["job_logs"] + 4 * LOG_LINES,
        "webhook_deliveries": before["webhook_deliveries"] + 1,
    }
    async with runtime.sessions() as session:
        present = set(
            (
                await session.scalars(
                    select(col(Job.id)).where(col(Job.id).in_(rows.jobs.values()))
                )
            ).all()
        )
        evaluation = await session.get(Evaluation, rows.evaluation)
        predictions = (
            await session.scalars(
                select(col(Prediction.id)).where(col(Prediction.id).in_(rows.predictions))
            )
        ).all()
        deliveries = set(
            (
                await session.scalars(
                    select(col(WebhookDelivery.id)).where(
                        col(WebhookDelivery.webhook_id) == rows.webhook
                    )
                )
            ).all()
        )
    assert present == {rows.jobs[role] for role in kept}
    for role in gone:
        logs = select(func.count()).where(col(JobLog.job_id) == rows.jobs[role])
        assert await _count(runtime, logs) == 0, role
    for role in kept:
        logs = select(func.count()).where(col(JobLog.job_id) == rows.jobs[role])
        assert await _count(runtime, logs) == LOG_LINES, role
    # Results outlive the job that made them; only the reference to it is cleared.
    assert evaluation is not None
    assert evaluation.job_id is None
    assert set(predictions) == set(rows.predictions)
    assert deliveries == {rows.deliveries["recent"]}
    attempts = select(func.count()).where(col(WebhookAttempt.delivery_id) == rows.deliveries["old"])
    assert await _count(runtime, attempts) == 0

    again = await apply_retention(runtime)
    assert (again.jobs, again.logs, again.deliveries) == (0, 0, 0)


async def test_the_retention_window_is_a_setting(runtime: Runtime, rows: Rows) -> None:
    """With a window longer than the rows' age, they all stay."""
    longer = Runtime.create(runtime.settings.model_copy(update={"job_retention_days": 365}))
    try:
        pruned = await apply_retention(longer)
    finally:
        await longer.close()
    assert (pruned.jobs, pruned.deliveries) == (0, 0)
    jobs = select(func.count()).where(col(Job.id).in_(rows.jobs.values()))
    assert await _count(runtime, jobs) == len(rows.jobs)


async def test_the_worker_runs_it_daily(settings: Settings) -> None:
    worker = create_worker(settings, handle_signals=False)
    [retention] = [c for c in worker.cron_jobs if c.name.endswith("job-retention")]
    assert retention.name == f"{settings.redis_prefix}job-retention"
    assert (retention.hour, retention.minute, retention.second) == ({4}, {30}, {0})
