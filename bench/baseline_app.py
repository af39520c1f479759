"""The baseline: hand-written Starlette endpoints over asyncpg that answer two fixed
requests with the same bytes as the GraphQL server.

    BENCH_DATABASE_URL=postgresql://… uvicorn bench.baseline_app:app --port 8001

- `POST /q1`: the first 20 races (newest day first, then meet, then race number) with
  their entries by gate number, each entry's horse and jockey, as
  `{"data":{"races":{"edges":[{"node":{…}}]}}}`: what `bench/graphql.py` sends as Q1.
- `POST /trivial`: `{"data":{"__typename":"Query"}}`.
- `POST /collect`: what `collectRaces` does for the bench's fixed input, one request at
  a time: a queued job row (in `baseline_jobs`, a copy of the `jobs` table with its
  indexes, so no worker ever sees it) and the job's entry in a Redis queue (a job key
  and a sorted-set member in one MULTI, as ARQ stores them), answered as
  `{"data":{"collectRaces":{"id":"job_…","status":"QUEUED"}}}`.

All read and parse the request body, as any JSON endpoint would, then ignore it.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PAGE_SIZE = 20
RACES = """
    SELECT id, race_date, meet, race_number, name, distance
    FROM races
    ORDER BY race_date DESC, meet, race_number
    LIMIT $1
"""
ENTRIES = """
    SELECT e.race_id, e.gate_number, e.win_odds, e.finish_position,
           h.horse_no, h.name AS horse_name, j.jockey_no, j.name AS jockey_name
    FROM entries e
    JOIN horses h ON h.horse_no = e.horse_no
    LEFT JOIN jockeys j ON j.jockey_no = e.jockey_no
    WHERE e.race_id = ANY($1::text[])
    ORDER BY e.race_id, e.gate_number
"""
TRIVIAL = b'{"data":{"__typename":"Query"}}'
COLLECT_PARAMETERS = orjson.dumps(
    {"race_date": "20250503", "meet": 1, "race_numbers": [1], "enrich": False,
     "with_results": False}
).decode()  # fmt: skip
INSERT_JOB = """
    INSERT INTO baseline_jobs (id, kind, status, progress, completed_steps, parameters,
        retry_count, cancel_requested, event_sequence, created_at, updated_at)
    VALUES ($1, 'COLLECTION', 'QUEUED', 0, 0, $2::jsonb, 0, false, 0, $3, $3)
"""
# A day, in milliseconds: how long ARQ keeps a queued job's key.
JOB_KEY_TTL_MS = 86_400_000


def entry_json(row: asyncpg.Record) -> dict[str, Any]:
    jockey = row["jockey_no"]
    return {
        "gateNumber": row["gate_number"],
        "winOdds": row["win_odds"],
        "finishPosition": row["finish_position"],
        "horse": {"horseNo": row["horse_no"], "name": row["horse_name"]},
        "jockey": None if jockey is None else {"jockeyNo": jockey, "name": row["jockey_name"]},
    }


def race_json(row: asyncpg.Record, entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "date": f"{row['race_date']:%Y%m%d}",
        "meet": row["meet"],
        "raceNumber": row["race_number"],
        "name": row["name"],
        "distance": row["distance"],
        "entries": entries,
    }


async def q1(request: Request) -> Response:
    orjson.loads(await request.body())
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as connection:
        races = await connection.fetch(RACES, PAGE_SIZE)
        rows = await connection.fetch(ENTRIES, [race["id"] for race in races])
    entries: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        entries[row["race_id"]].append(entry_json(row))
    edges = [{"node": race_json(race, entries.get(race["id"], []))} for race in races]
    body = orjson.dumps({"data": {"races": {"edges": edges}}})
    return Response(body, media_type="application/json")


async def health(_request: Request) -> Response:
    return Response(b"ok")


async def trivial(request: Request) -> Response:
    orjson.loads(await request.body())
    return Response(TRIVIAL, media_type="application/json")


async def collect(request: Request) -> Response:
    orjson.loads(await request.body())
    job_id = f"job_{uuid.uuid4().hex}"
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as connection:
        await connection.execute(INSERT_JOB, job_id, COLLECT_PARAMETERS, datetime.now(UTC))
    prefix = request.app.state.prefix
    async with request.app.state.redis.pipeline(transaction=True) as pipe:
        pipe.set(f"{prefix}baseline:job:{job_id}", COLLECT_PARAMETERS, px=JOB_KEY_TTL_MS, nx=True)
        pipe.zadd(f"{prefix}baseline:queue", {job_id: int(time.time() * 1000)})
        await pipe.execute()
    body = orjson.dumps({"data": {"collectRaces": {"id": job_id, "status": "QUEUED"}}})
    return Response(body, media_type="application/json")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # The same number of connections the API keeps by default (DB_POOL_SIZE).
    app.state.pool = await asyncpg.create_pool(
        os.environ["BENCH_DATABASE_URL"], min_size=1, max_size=20
    )
    async with app.state.pool.acquire() as connection:
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS baseline_jobs (LIKE jobs INCLUDING ALL)"
        )
    app.state.redis = Redis.from_url(os.environ["REDIS_URL"])
    app.state.prefix = os.environ["REDIS_PREFIX"]
    try:
        yield
    finally:
        await app.state.redis.aclose()
        await app.state.pool.close()


app = Starlette(
    routes=[
        Route("/q1", q1, methods=["POST"]),
        Route("/trivial", trivial, methods=["POST"]),
        Route("/collect", collect, methods=["POST"]),
        Route("/health", health),
    ],
    lifespan=lifespan,
)
