"""Collect a month of recorded races through the replay server; print speed and call rate.

    python -m bench.collection [--month 202505] [--limit 1200]

Runs the collection twice on fresh databases (PostgreSQL, Redis on loopback as in the
tests): once without a rate limit, once with `--limit` calls per minute, and prints
races/s, KRA calls per race, and the achieved call rate as a share of the limit.
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

from bench.scratch import run_here, scratch_runtime
from kra_graphql.collection.params import CollectParams
from kra_graphql.embedded_redis import free_port
from kra_graphql.jobs.clients import WorkerClients
from kra_graphql.jobs.kinds import REGISTRY
from kra_graphql.jobs.models import JobKind
from kra_graphql.kra.factory import create_http_client
from kra_graphql.kra.replay import create_replay_app

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
