"""Run a job in this process (the CLI's import), showing its progress from its events."""

from __future__ import annotations

import asyncio

from redis.asyncio.client import PubSub
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from kra_graphql.collection.params import ImportParams
from kra_graphql.config import Settings
from kra_graphql.db import unit_of_work
from kra_graphql.jobs.clients import WorkerClients
from kra_graphql.jobs.events import JobEvent, events_channel
from kra_graphql.jobs.kinds import REGISTRY
from kra_graphql.jobs.models import Job, JobKind
from kra_graphql.jobs.runner import run_job
from kra_graphql.kra.factory import create_http_client
from kra_graphql.runtime import Runtime


async def run_import(settings: Settings, paths: list[str], console: Console) -> str:
    runtime = Runtime.create(settings)
    try:
        async with unit_of_work(runtime.sessions) as session:
            job = Job(
                kind=JobKind.IMPORT, parameters=ImportParams(paths).to_json(), requested_by="cli"
            )
            session.add(job)
        async with runtime.redis.pubsub() as pubsub:
            await pubsub.subscribe(events_channel(settings.redis_prefix))
            status = await _follow(runtime, job.id, pubsub, console)
        async with runtime.sessions() as session:
            final = await session.get(Job, job.id)
        if final is not None and final.result:
            console.print(
                f"{status}: {len(final.result.get('raceIds', []))} race(s) imported, "
                f"{len(final.result.get('failures', []))} failure(s); job {job.id}"
            )
        return status
    finally:
        await runtime.close()


async def _follow(runtime: Runtime, job_id: str, pubsub: PubSub, console: Console) -> str:
    """Run the job here, as a worker would, and draw its progress from the events it publishes."""
    async with create_http_client(runtime.settings) as http:
        handlers = REGISTRY.handlers(WorkerClients.create(runtime.settings, runtime.redis, http))
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            bar = progress.add_task("import", total=None)
            runner = asyncio.create_task(run_job(runtime, job_id, job_try=1, handlers=handlers))
            while not runner.done():
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
                if message is None:
                    continue
                event = JobEvent.decode(message["data"])
                if event.job_id == job_id:
                    progress.update(
                        bar,
                        total=event.total_steps,
                        completed=event.completed_steps,
                        description=event.current_step or event.status.lower(),
                    )
            return await runner
