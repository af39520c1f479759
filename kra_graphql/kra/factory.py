"""Build the process-wide KRA client from settings (used by the worker and the dev server)."""

from __future__ import annotations

import httpx
from redis.asyncio import Redis

from kra_graphql.config import Settings
from kra_graphql.kra.client import KraClient, OnCall
from kra_graphql.kra.ratelimit import RateLimiter


def create_http_client(settings: Settings) -> httpx.AsyncClient:
    """The one `httpx.AsyncClient` a process uses for KRA calls; the caller closes it."""
    return httpx.AsyncClient(
        timeout=settings.kra_timeout_s,
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        headers={"Accept": "application/json", "User-Agent": "kra-graphql"},
    )


def create_kra_client(
    settings: Settings,
    redis: Redis | None,
    http: httpx.AsyncClient,
    *,
    on_call: OnCall | None = None,
) -> KraClient:
    """A client sharing the calls-per-minute budget with every process on the same Redis."""
    limit = settings.kra_rate_limit_per_min
    limiter = (
        RateLimiter(redis=redis, key_prefix=settings.redis_prefix, limit_per_min=limit)
        if redis is not None and limit > 0
        else None
    )
    key = settings.kra_api_key.get_secret_value() if settings.kra_api_key else None
    return KraClient(
        base_url=settings.kra_api_base_url,
        api_key=key,
        http=http,
        rate_limiter=limiter,
        max_attempts=settings.kra_max_attempts,
        backoff_base_s=settings.kra_backoff_base_s,
        timeout_s=settings.kra_timeout_s,
        on_call=on_call,
    )
