"""A calls-per-minute budget shared by every process through Redis.

The limiter is a GCRA (generic cell rate algorithm) kept in one Redis key: the key holds
the theoretical arrival time (TAT) of the next free slot, in Redis server microseconds.
Two ways to spend the budget, each one Lua script run atomically:

- `acquire()` reserves the next slot and sleeps until it opens. Calls are thereby spaced
  evenly at 60/N seconds across all processes and machines sharing the key, with no
  polling, and a queue of waiting callers keeps the budget fully used (KRA API calls).
  A caller cancelled while it sleeps loses its reserved slot; the budget is never
  exceeded, only briefly under-used.
- `try_acquire(subject)` takes a slot only if one is open now and otherwise says how long
  until one opens, without reserving it (API requests, one budget per subject).
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

# KEYS[1]: the limiter key. ARGV[1]: emission interval in microseconds. ARGV[2]: burst
# tolerance in microseconds. Both scripts start from the key's theoretical arrival time
# (tat), never earlier than now.
_ARRIVAL = """
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then
  tat = now
end
"""
# ...and take the slot at tat: the next one is an interval later.
_TAKE = """
local next_tat = tat + interval
local ttl_ms = math.ceil((next_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', ttl_ms)
"""

# Returns the wait before the reserved slot, in microseconds.
_RESERVE = (
    _ARRIVAL
    + """local wait = tat - tolerance - now
if wait < 0 then
  wait = 0
end
"""
    + _TAKE
    + "return wait\n"
)


# Same arguments. Returns -1 when a slot was taken, else the microseconds until one opens.
_TRY = (
    _ARRIVAL
    + """local opens = tat - tolerance
if opens > now then
  return opens - now
end
"""
    + _TAKE
    + "return -1\n"
)


class RateLimiter:
    """At most `limit_per_min` acquisitions per minute across every process sharing `key_prefix`.

    `burst` lets that many calls through back to back after an idle spell; the default of
    1 spaces every call 60/N seconds apart. `limit_per_min` of None or <= 0 disables the
    limiter without touching Redis.
    """

    def __init__(
        self,
        *,
        redis: Redis | None,
        key_prefix: str,
        limit_per_min: int | None,
        burst: int = 1,
        name: str = "kra-api",
    ) -> None:
        self._limit = limit_per_min if limit_per_min and limit_per_min > 0 else None
        if self._limit is not None and redis is None:
            raise ValueError("a limited RateLimiter needs a Redis client")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self._script = redis.register_script(_RESERVE) if redis is not None else None
        self._try = redis.register_script(_TRY) if redis is not None else None
        self.key = f"{key_prefix}ratelimit:{name}"
        self._interval_us = round(60_000_000 / self._limit) if self._limit else 0
        self._tolerance_us = (burst - 1) * self._interval_us

    @property
    def limit_per_min(self) -> int | None:
        return self._limit

    @property
    def interval_s(self) -> float:
        """Seconds between two calls at the full rate (0 when unlimited)."""
        return self._interval_us / 1_000_000

    async def reserve(self) -> float:
        """Reserve the next slot and return the seconds until it opens, without waiting."""
        if self._limit is None or self._script is None:
            return 0.0
        wait_us = await self._script(keys=[self.key], args=[self._interval_us, self._tolerance_us])
        return max(0, int(wait_us)) / 1_000_000

    async def try_acquire(self, subject: str) -> float | None:
        """Take a slot of `subject`'s own budget: None when taken, else seconds until one opens."""
        if self._limit is None or self._try is None:
            return None
        wait_us = int(
            await self._try(
                keys=[f"{self.key}:{subject}"], args=[self._interval_us, self._tolerance_us]
            )
        )
        return None if wait_us < 0 else wait_us / 1_000_000

    async def acquire(self) -> float:
        """Wait for a slot; returns the seconds waited."""
        wait = await self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)
        return wait
