"""Task functions: each one only unpacks its arguments and calls the job layer or a service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kra_graphql.access.keys import SCHEDULE
from kra_graphql.collection.params import CollectParams
from kra_graphql.jobs.clients import WorkerClients
from kra_graphql.jobs.models import JobKind
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.jobs.retention import apply_retention
from kra_graphql.jobs.runner import run_job as run_job_attempt
from kra_graphql.jobs.service import recover_jobs, submit_job
from kra_graphql.raceday.schedule import schedule_race_day
from kra_graphql.races.dates import seoul_today
from kra_graphql.races.models import Meet
from kra_graphql.runtime import Runtime
from kra_graphql.webhooks.delivery import deliver
from kra_graphql.webhooks.dispatch import send_due


async def ping(ctx: dict[str, Any]) -> str:
    """Round trip through the queue; used to prove a worker is consuming jobs."""
    return "pong"


async def run_job(ctx: dict[str, Any], job_id: str) -> str:
    runtime: Runtime = ctx["runtime"]
    return await run_job_attempt(
        runtime, job_id, job_try=ctx["job_try"], handlers=ctx["handlers"], queue=ctx["queue"]
    )


async def recover(ctx: dict[str, Any]) -> list[str]:
    """Hand the jobs of dead workers to live ones; enqueue rows that never reached Redis."""
    return await recover_jobs(ctx["runtime"], ctx["queue"])


async def collect_yesterday(ctx: dict[str, Any]) -> list[str]:
    """The daily collection: yesterday's races at every meet, enriched, with results."""
    runtime: Runtime = ctx["runtime"]
    queue: JobQueue = ctx["queue"]
    yesterday = seoul_today() - timedelta(days=1)
    jobs = []
    for meet in Meet:
        params = CollectParams(race_date=yesterday, meet=meet.value)
        job = await submit_job(
            runtime, queue, JobKind.COLLECTION, params.to_json(), requested_by=SCHEDULE
        )
        jobs.append(job.id)
    return jobs


async def start_race_day(ctx: dict[str, Any]) -> str | None:
    """Today's race-day job, once its cards hour has come (see kra_graphql/raceday/)."""
    clients: WorkerClients = ctx["clients"]
    now = datetime.now(UTC)
    return await schedule_race_day(ctx["runtime"], ctx["queue"], clients.kra, now)


async def deliver_webhook(ctx: dict[str, Any], delivery_id: str, attempt: int) -> str:
    """One try of a webhook delivery (not a job: it reports on jobs)."""
    return await deliver(ctx["runtime"], ctx["webhook_http"], delivery_id, attempt)


async def send_due_webhooks(ctx: dict[str, Any]) -> list[str]:
    """Deliveries whose next try is due but on no queue (a crash, Redis down)."""
    return await send_due(ctx["runtime"])


async def apply_job_retention(ctx: dict[str, Any]) -> dict[str, int]:
    """The daily clean-up of finished jobs and webhook deliveries past JOB_RETENTION_DAYS."""
    pruned = await apply_retention(ctx["runtime"])
    return {"jobs": pruned.jobs, "logs": pruned.logs, "deliveries": pruned.deliveries}
