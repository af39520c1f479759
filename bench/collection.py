"""Collect a month of recorded races through the replay server; print speed and call rate.

    python bench/collection.py [--month 202505] [--limit 1200]

Runs the collection twice on fresh databases (PostgreSQL, Redis on loopback as in the
tests): once without a rate limit, once with `--limit` calls per minute, and prints
races/s, KRA calls per race, and the achieved call rate as a share of the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import asyncpg
import httpx
import orjson
import uvicorn
from redis.asyncio import Redis

from kra_graphql.collection.params import CollectParams
from kra_graphql.config import Settings
from kra_graphql.db import create_engine, unit_of_work
from kra_graphql.embedded_redis import free_port
from kra_graphql.jobs.models import Job, JobKind
from kra_graphql.jobs.runner import run_job
from kra_graphql.kra.factory import create_http_client, create_kra_client
from kra_graphql.kra.replay import create_replay_app
from kra_graphql.migrate import upgrade_engine
from kra_graphql.prediction.service import Predictors
from kra_graphql.runtime import Runtime
from workers.handlers import build_handlers

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "kra"
PG_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


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
    name = f"kra_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    prefix = f"kra-bench-{uuid.uuid4().hex[:8]}:"
    settings = Settings(
        database_url=PG_ADMIN.rsplit("/", 1)[0] + f"/{name}",
        redis_url=REDIS_URL,
        redis_prefix=prefix,
        kra_api_base_url=replay_url,
        kra_rate_limit_per_min=limit,
    )
    engine = create_engine(settings)
    await upgrade_engine(engine)
    await engine.dispose()
    runtime = Runtime.create(settings)
    http = create_http_client(settings)
    handlers = build_handlers(
        create_kra_client(settings, runtime.redis, http), Predictors(settings, http)
    )
    async with httpx.AsyncClient(base_url=replay_url) as admin_http:
        await admin_http.post("/_admin/reset")
        started = time.perf_counter()
        races = 0
        for day, meet in month_days(month):
            async with unit_of_work(runtime.sessions) as session:
                job = Job(kind=JobKind.COLLECTION, parameters=CollectParams(day, meet).to_json())
                session.add(job)
            await run_job(runtime, job.id, job_try=1, handlers=handlers)
            async with runtime.sessions() as session:
                done = await session.get(Job, job.id)
                races += len((done.result or {}).get("raceIds", [])) if done else 0
        seconds = time.perf_counter() - started
        stats = (await admin_http.get("/_admin/stats")).json()
    await http.aclose()
    await runtime.close()
    redis: Redis = Redis.from_url(REDIS_URL)
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()
    await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin.close()
    return Figures(label, races, stats["total_calls"], seconds, limit, stats["calls"])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--month", default="202505")
    parser.add_argument("--limit", type=int, default=1200, help="calls per minute")
    args = parser.parse_args()

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_replay_app(FIXTURES), port=port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event
        await asyncio.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    print(f"collecting {args.month} from the replay server ({len(month_days(args.month))} days)")
    (await collect_month("no limit", args.month, 0, url)).show()
    (await collect_month(f"{args.limit}/min", args.month, args.limit, url)).show()
    server.should_exit = True
    await serving


if __name__ == "__main__":
    asyncio.run(main())
