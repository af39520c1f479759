"""Collect a month of recorded races through the replay server; print speed and call rate.

    python -m bench.collection [--month 202505] [--limit 1200]

Runs the collection on fresh databases (PostgreSQL, Redis on loopback as in the tests),
once without a rate limit and once with `--limit` calls per minute: first day by day (one
collection job after another, run in this process), then as one backfill of the month
(`backfillRaces`: a BACKFILL job and its collection jobs on an ARQ worker in this
process). It prints races/s, KRA calls per race, the achieved call rate as a share of
the limit, and for the backfill what the parent job adds to its children: the time from
its start to its end beyond the span its children ran in, its own KRA calls, and its
progress writes against theirs.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import orjson
import uvicorn
from redis.asyncio import Redis
from sqlalchemy import select
from sqlmodel import col

from bench.scratch import REDIS_URL, run_here, scratch_runtime
from kra_graphql.collection.backfill import BackfillParams
from kra_graphql.collection.params import CollectParams
from kra_graphql.config import Settings
from kra_graphql.embedded_redis import free_port
from kra_graphql.jobs.clients import WorkerClients
from kra_graphql.jobs.kinds import REGISTRY
from kra_graphql.jobs.models import Job, JobKind
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.jobs.service import submit_job
from kra_graphql.kra.factory import create_http_client
from kra_graphql.kra.replay import create_replay_app
from kra_graphql.logging import configure_logging
from kra_graphql.runtime import Runtime
from workers.settings import create_worker, stop_worker

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "kra"


@dataclass
class Figures:
    label: str
    races: int
    calls: int
    seconds: float
    limit: int
    by_endpoint: dict[str, int]

    def show(self) -> None:
        rate = self.calls / self.seconds * 60
        share = f"{rate / self.limit:.2f} of the limit" if self.limit else "no limit"
        print(
            f"{self.label:>10}: {self.races} races in {self.seconds:.1f} s = "
            f"{self.races / self.seconds:.1f} races/s; {self.calls / self.races:.2f} KRA calls "
            f"per race; {rate:.0f} calls/min ({share})"
        )
        detail = sum(
            n for e, n in self.by_endpoint.items() if not e.startswith(("API214", "API72"))
        )
        print(
            f"{'':>10}  race calls {self.by_endpoint.get('API214_1/RaceDetailResult_1', 0)}, "
            f"plan calls {self.by_endpoint.get('API72_2/racePlan_2', 0)}, "
            f"detail calls {detail} (one per horse, jockey or trainer first seen)"
        )


def month_days(month: str) -> list[tuple[date, int]]:
    manifest = orjson.loads((FIXTURES / "manifest.json").read_bytes())
    days = {
        (race["rc_date"], race["meet"])
        for race in manifest["races"]
        if race["rc_date"].startswith(month) and race["phase"] == "result"
    }
    return [(date(int(d[:4]), int(d[4:6]), int(d[6:])), m) for d, m in sorted(days)]


async def collect_month(label: str, month: str, limit: int, replay_url: str) -> Figures:
    async with (
        scratch_runtime(kra_api_base_url=replay_url, kra_rate_limit_per_min=limit) as runtime,
        create_http_client(runtime.settings) as http,
        httpx.AsyncClient(base_url=replay_url) as replay,
    ):
        clients = WorkerClients.create(runtime.settings, runtime.redis, http)
        collect = REGISTRY.handlers(clients)[JobKind.COLLECTION]
        await replay.post("/_admin/reset")
        started = time.perf_counter()
        races = 0
        for day, meet in month_days(month):
            params = CollectParams(day, meet).to_json()
            done = await run_here(runtime, JobKind.COLLECTION, params, collect)
            races += len((done.result or {}).get("raceIds", []))
        seconds = time.perf_counter() - started
        stats = (await replay.get("/_admin/stats")).json()
    return Figures(label, races, stats["total_calls"], seconds, limit, stats["calls"])


async def backfill_month(label: str, month: str, limit: int, replay_url: str) -> Figures:
    """The month as one backfill, run by a worker in this process as a deployment would."""
    first, last = month_days(month)[0][0], month_days(month)[-1][0]
    async with (
        scratch_runtime(
            kra_api_base_url=replay_url, kra_rate_limit_per_min=limit, log_level="WARNING"
        ) as runtime,
        httpx.AsyncClient(base_url=replay_url) as replay,
    ):
        own = runtime.settings.model_copy(
            update={"arq_queue_name": f"{runtime.settings.redis_prefix}queue"}
        )
        queue = await JobQueue.connect(own)
        worker = create_worker(own, handle_signals=False)
        running = asyncio.ensure_future(worker.async_run())
        try:
            await replay.post("/_admin/reset")
            started = time.perf_counter()
            params = BackfillParams(date_from=first, date_to=last)
            parent = await submit_job(runtime, queue, JobKind.BACKFILL, params.to_json())
            done = await _wait(runtime, parent.id)
            seconds = time.perf_counter() - started
            stats = (await replay.get("/_admin/stats")).json()
            children = await _children(runtime, parent.id)
        finally:
            running.cancel()
            await stop_worker(worker)
            await queue.close()
            await _forget_arq_keys(runtime.settings.redis_prefix)
    if done.status != "COMPLETED":
        raise RuntimeError(f"the backfill ended {done.status}: {done.error}")
    races = sum(len((child.result or {}).get("raceIds", [])) for child in children)
    figures = Figures(label, races, stats["total_calls"], seconds, limit, stats["calls"])
    figures.show()
    _show_overhead(done, children, stats["calls"])
    return figures


def _show_overhead(parent: Job, children: list[Job], calls: dict[str, int]) -> None:
    assert parent.started_at
    assert parent.finished_at
    spans = [(c.started_at, c.finished_at) for c in children if c.started_at and c.finished_at]
    busy = sum((end - start).total_seconds() for start, end in spans)
    span = (max(end for _, end in spans) - min(start for start, _ in spans)).total_seconds()
    wall = (parent.finished_at - parent.started_at).total_seconds()
    plan_calls = calls.get("API72_2/racePlan_2", 0)
    child_events = sum(child.event_sequence for child in children)
    print(
        f"{'':>10}  parent: {len(children)} child jobs, {busy:.1f} s of child job time "
        f"over a span of {span:.1f} s; the parent ran {wall:.1f} s: "
        f"+{(wall - span) / span:.1%} over the span"
    )
    print(
        f"{'':>10}  parent's own work: {plan_calls} plan calls of {sum(calls.values())} "
        f"({plan_calls / sum(calls.values()):.1%}); {parent.event_sequence} progress writes "
        f"against its children's {child_events} ({parent.event_sequence / child_events:.1%})"
    )


async def _wait(runtime: Runtime, job_id: str) -> Job:
    while True:
        async with runtime.sessions() as session:
            job = await session.get(Job, job_id)
        assert job is not None
        if job.finished_at is not None:
            return job
        await asyncio.sleep(0.2)


async def _children(runtime: Runtime, parent_id: str) -> list[Job]:
    async with runtime.sessions() as session:
        rows = await session.scalars(select(Job).where(col(Job.parent_id) == parent_id))
        return list(rows.all())


async def _forget_arq_keys(prefix: str) -> None:
    """ARQ keeps job and result keys under its own prefix, named after ours."""
    redis: Redis = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in redis.scan_iter(match=f"*{prefix}*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--month", default="202505")
    parser.add_argument("--limit", type=int, default=1200, help="calls per minute")
    args = parser.parse_args()
    # The worker's lines would bury the figures.
    configure_logging(Settings(log_level="WARNING"))

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_replay_app(FIXTURES), port=port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event
        await asyncio.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    print(f"collecting {args.month} from the replay server ({len(month_days(args.month))} days)")
    print("day by day, one collection job after another:")
    (await collect_month("no limit", args.month, 0, url)).show()
    (await collect_month(f"{args.limit}/min", args.month, args.limit, url)).show()
    print("as one backfill (a BACKFILL job, its collection jobs on a worker):")
    await backfill_month("no limit", args.month, 0, url)
    await backfill_month(f"{args.limit}/min", args.month, args.limit, url)
    server.should_exit = True
    await serving


if __name__ == "__main__":
    asyncio.run(main())
