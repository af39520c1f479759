"""The Starlette application: /graphql (HTTP and WebSocket), /health, /health/ready, /metrics,
/exports."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute

from kra_graphql import graphiql
from kra_graphql.access.control import AccessControl
from kra_graphql.config import Settings, get_settings
from kra_graphql.export import routes as export_routes
from kra_graphql.graphql.cache import CachedView, ResponseCache
from kra_graphql.graphql.context import ApiServices
from kra_graphql.graphql.guard import Guard, GuardedGraphQL
from kra_graphql.graphql.schema import schema_for
from kra_graphql.graphql.view import create_view
from kra_graphql.health import check_health
from kra_graphql.jobboard import routes as jobboard_routes
from kra_graphql.jobs.hub import JobEventHub
from kra_graphql.jobs.queue import JobQueue
from kra_graphql.jobs.service import JobSubmitter
from kra_graphql.logging import configure_logging, get_logger
from kra_graphql.metrics import metrics_endpoint
from kra_graphql.prediction.service import Predictors
from kra_graphql.requestid import RequestIdMiddleware
from kra_graphql.runtime import Runtime, require_redis_url

log = get_logger(__name__)


GC_THRESHOLDS = (50_000, 10, 10)


async def liveness(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readiness(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    report = await check_health(runtime, with_counts=False)
    # Degraded still answers 200: the API serves reads, and jobs wait for a worker.
    status = "unavailable" if not report.ready else "degraded" if report.degraded else "ready"
    body = {
        "status": status,
        "database": "UP" if report.database else "DOWN",
        "redis": "UP" if report.redis else "DOWN",
        "worker": "UP" if report.worker else "DOWN",
        "workerHeartbeat": report.worker_heartbeat,
        "degraded": report.degraded if report.ready else [],
    }
    return JSONResponse(body, status_code=200 if report.ready else 503)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime = Runtime.create(settings)
        queue = await JobQueue.connect(settings)
        # Its own connection: a pub/sub read waits indefinitely, unlike ordinary commands.
        hub = JobEventHub(
            Redis.from_url(require_redis_url(settings)),
            settings.redis_prefix,
            progress_interval_s=settings.subscription_progress_interval_ms / 1000,
            resync_after_s=settings.subscription_resync_s,
        )
        app.state.runtime = runtime
        http = httpx.AsyncClient()
        predictors = Predictors(settings, http)
        access = AccessControl(settings, runtime.sessions, runtime.redis)
        app.state.services = ApiServices(
            runtime=runtime,
            queue=queue,
            jobs=JobSubmitter(runtime, queue),
            hub=hub,
            predictors=predictors,
            access=access,
            reads=asyncio.Semaphore(settings.read_concurrency),
        )
        app.state.guard = Guard(access, settings.max_request_bytes, settings.max_query_tokens)
        app.state.cache = ResponseCache(runtime) if settings.response_cache_enabled else None
        # Start-up objects live as long as the process: keep the collector off them,
        # which removes most of its pauses from request tails.
        gc.collect()
        gc.freeze()
        # Requests in flight hold thousands of small objects across their awaits, and
        # with the default first threshold (700 allocations) young collections walked
        # them again and again. With the fast executor a finished request leaves no
        # cycle behind (`fastpath.executor._weak_helpers`), so at one connection the
        # count hardly grows; at 50 connections on a page of races, 50,000 takes about
        # 20% less CPU than 10,000. Stock graphql-core leaves a cycle per request: it
        # keeps the default thresholds.
        if schema.fast_path.executor:
            gc.set_threshold(*GC_THRESHOLDS)
        log.info("api.started", environment=settings.environment.value)
        try:
            yield
        finally:
            await hub.close()
            await http.aclose()
            await queue.close()
            await runtime.close()

    schema = schema_for(settings.fast_path)
    view = create_view(
        schema, graphiql=not settings.is_production, allowed_origins=settings.cors_origins
    )
    routes: list[BaseRoute] = [
        Route("/graphql", GuardedGraphQL(CachedView(view)), methods=["GET", "POST"]),
        WebSocketRoute("/graphql", view),
        Route("/health", liveness),
        Route("/health/ready", readiness),
        *jobboard_routes(),
        *export_routes.routes(),
    ]
    if settings.metrics_enabled:
        routes.append(Route("/metrics", metrics_endpoint))
    if not settings.is_production:
        routes.extend(graphiql.routes())
    middleware = [Middleware(RequestIdMiddleware)]
    if settings.cors_origins:
        middleware.insert(
            0,
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["authorization", "x-api-key", "content-type", "x-request-id"],
                expose_headers=["x-request-id", "retry-after"],
                max_age=600,
            ),
        )
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
