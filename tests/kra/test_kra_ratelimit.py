"""The shared limiter against the real Redis on 127.0.0.1:6379.

Other test runs share that Redis: every test uses its own key prefix and deletes only its
own keys. Assertions count calls per window; the only timing asserted is the spacing
the limit itself implies.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from kra_graphql.kra.ratelimit import RateLimiter

REPO = Path(__file__).resolve().parents[2]
WORKER = """
import asyncio, json, sys, time
from redis.asyncio import Redis
from kra_graphql.kra.ratelimit import RateLimiter

async def main(prefix: str, limit: int, count: int, start_at: float) -> None:
    redis = Redis(host="127.0.0.1", port=6379)
    limiter = RateLimiter(redis=redis, key_prefix=prefix, limit_per_min=limit)
    await asyncio.sleep(max(0.0, start_at - time.time()))
    stamps = []
    for _ in range(count):
        await limiter.acquire()
        stamps.append(time.time())
    await redis.aclose()
    print(json.dumps(stamps))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))
"""


@pytest.fixture(scope="session")
async def redis() -> AsyncIterator[Redis]:
    client = Redis(host="127.0.0.1", port=6379)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    value = f"kra-test-{uuid.uuid4().hex}:"
    yield value
    keys = [key async for key in redis.scan_iter(match=f"{value}*")]
    if keys:
        await redis.delete(*keys)


def max_in_window(stamps: list[float], window: float) -> int:
    ordered = sorted(stamps)
    return max(
        sum(1 for other in ordered[i:] if other < start + window) for i, start in enumerate(ordered)
    )


@pytest.mark.parametrize("limit", [None, 0, -5])
async def test_no_limit_means_no_wait_and_no_redis(limit: int | None) -> None:
    limiter = RateLimiter(redis=None, key_prefix="unused:", limit_per_min=limit)
    assert limiter.limit_per_min is None
    assert limiter.interval_s == 0
    assert [await limiter.acquire() for _ in range(50)] == [0.0] * 50


def test_a_limit_needs_redis() -> None:
    with pytest.raises(ValueError, match="Redis"):
        RateLimiter(redis=None, key_prefix="x:", limit_per_min=10)


async def test_burst_below_one_is_refused(redis: Redis) -> None:
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(redis=redis, key_prefix="x:", limit_per_min=10, burst=0)


async def test_reservations_are_spaced_evenly(redis: Redis, prefix: str) -> None:
    limiter = RateLimiter(redis=redis, key_prefix=prefix, limit_per_min=600)
    waits = sorted(await asyncio.gather(*(limiter.reserve() for _ in range(10))))
    assert waits[0] == 0
    for index, wait in enumerate(waits):
        # Each reservation is one interval (0.1 s) after the previous one.
        assert index * 0.1 - 0.05 <= wait <= index * 0.1 + 0.001
    assert await redis.pttl(limiter.key) > 0


async def test_burst_lets_the_first_calls_through(redis: Redis, prefix: str) -> None:
    limiter = RateLimiter(redis=redis, key_prefix=prefix, limit_per_min=60, burst=3)
    waits = [await limiter.reserve() for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert 0.9 < waits[3] <= 1.0


async def test_waiting_callers_are_let_through_at_the_limit(redis: Redis, prefix: str) -> None:
    limiter = RateLimiter(redis=redis, key_prefix=prefix, limit_per_min=1200)
    stamps: list[float] = []

    async def call() -> None:
        await limiter.acquire()
        stamps.append(time.monotonic())

    await asyncio.gather(*(call() for _ in range(12)))
    # 1200/min is one call each 0.05 s: at most 5 in any 0.25 s (one more for jitter).
    assert max_in_window(stamps, 0.25) <= 6
    assert max(stamps) - min(stamps) >= 11 * 0.05 * 0.9


async def test_two_processes_share_one_budget(prefix: str) -> None:
    limit, each = 600, 6
    start_at = time.time() + 1.5

    async def worker() -> list[float]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WORKER,
            prefix,
            str(limit),
            str(each),
            str(start_at),
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        stamps: list[float] = json.loads(out)
        return stamps

    first, second = await asyncio.gather(worker(), worker())
    stamps = first + second
    assert len(stamps) == 2 * each
    # 600/min is one call each 0.1 s across both processes: at most 5 in 0.5 s (+1 jitter).
    assert max_in_window(stamps, 0.5) <= 6
    assert max(stamps) - min(stamps) >= (2 * each - 1) * 0.1 * 0.9
