"""Who may call, and how often: one object per API process, shared by HTTP and WebSocket."""

from __future__ import annotations

import asyncio
import math
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kra_graphql.access.authenticator import Authenticator
from kra_graphql.access.keys import Principal, anonymous, parse_env_keys
from kra_graphql.config import Settings
from kra_graphql.errors import RateLimited, Unauthenticated
from kra_graphql.logging import get_logger
from kra_graphql.metrics import RATE_LIMIT_REJECTIONS
from kra_graphql.ratelimit import RateLimiter

log = get_logger(__name__)

LIMITER_TIMEOUT_S = 1.0
# While Redis is down every request would say so: say it at most this often.
UNAVAILABLE_LOG_EVERY_S = 10.0
# How soon a client turned away because the limiter was unreachable should try again.
UNAVAILABLE_RETRY_S = 5

INVALID_KEY = "invalid API key"
KEY_REQUIRED = "an API key is required"


class AccessControl:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        redis: Redis,
    ) -> None:
        env_keys = parse_env_keys(settings.api_keys.get_secret_value()) if settings.api_keys else {}
        self.authenticator = Authenticator(
            sessions, env_keys=env_keys, cache_s=settings.api_key_cache_s
        )
        self.anonymous = anonymous(read=settings.allows_anonymous_read)
        prefix = settings.redis_prefix
        self._keyed = RateLimiter(
            redis=redis,
            key_prefix=prefix,
            limit_per_min=settings.rate_limit_per_min,
            burst=settings.rate_limit_burst,
            name="api:key",
        )
        self._by_address = RateLimiter(
            redis=redis,
            key_prefix=prefix,
            limit_per_min=settings.anonymous_rate_limit_per_min,
            burst=settings.anonymous_rate_limit_burst,
            name="api:address",
        )
        self._unavailable_logged_at = -math.inf
        self._unavailable_count = 0

    async def identify(self, key: str | None) -> Principal:
        """The caller behind `key` (anonymous without one); raises on a key that is not valid."""
        if key is None:
            return self.anonymous
        principal = await self.authenticator.authenticate(key)
        if principal is None:
            raise Unauthenticated(INVALID_KEY)
        return principal

    async def spend(self, principal: Principal, address: str, *, mutation: bool) -> None:
        """Take one request from the caller's budget, or raise RateLimited.

        Without Redis the budget cannot be checked: reads go through and mutations are
        refused, since a mutation starts work that costs far more than a read.
        """
        limiter, subject = (
            (self._keyed, f"key:{principal.name}")
            if principal.name is not None
            else (self._by_address, address)
        )
        if limiter.limit_per_min is None:
            return
        try:
            async with asyncio.timeout(LIMITER_TIMEOUT_S):
                wait = await limiter.try_acquire(subject)
        except (RedisError, OSError, TimeoutError) as error:
            self._report_unavailable(error, mutation=mutation)
            if mutation:
                raise RateLimited(
                    "the rate limiter is unavailable; mutations are paused, try again shortly",
                    retry_after_s=UNAVAILABLE_RETRY_S,
                    http_status=503,
                ) from None
            return
        if wait is not None:
            RATE_LIMIT_REJECTIONS.labels(
                caller="key" if principal.authenticated else "anonymous"
            ).inc()
            raise RateLimited("too many requests; slow down", retry_after_s=max(1, math.ceil(wait)))

    def _report_unavailable(self, error: Exception, *, mutation: bool) -> None:
        self._unavailable_count += 1
        now = time.monotonic()
        if now - self._unavailable_logged_at >= UNAVAILABLE_LOG_EVERY_S:
            log.warning(
                "ratelimit.unavailable",
                error=type(error).__name__,
                policy="mutations refused, reads allowed",
                refused_mutation=mutation,
                requests_since_last_report=self._unavailable_count,
            )
            self._unavailable_logged_at = now
            self._unavailable_count = 0
